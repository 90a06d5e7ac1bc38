package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/exitcode"
	"github.com/squallbench/squall/reports"
)

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Rebuild report.json and report.md from a run directory's results.jsonl",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := reports.Rebuild(args[0])
			if err != nil {
				return cluster.Usagef("%v", err)
			}
			fmt.Fprint(cmd.OutOrStdout(), reports.Summary(rep, args[0]))
			return verdictError(rep)
		},
	}
	cmd.AddCommand(newReportMergeCmd())
	return cmd
}

// verdictError turns a report's verdict into the command's outcome.
func verdictError(rep *reports.Report) error {
	switch rep.Verdict {
	case reports.VerdictPass:
		return nil
	case reports.VerdictInterrupted:
		return exitcode.ErrInterrupted
	default:
		return errVerdictFailed
	}
}
