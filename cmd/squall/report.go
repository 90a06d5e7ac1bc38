package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/reports"
)

func newReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Rebuild report.json, report.md and report.html from a run directory's results.jsonl",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := reports.Rebuild(args[0])
			if err != nil {
				return cluster.Usagef("%v", err)
			}
			fmt.Fprint(cmd.OutOrStdout(), reports.Summary(rep, args[0]))
			if rep.Verdict != "pass" {
				return errVerdictFailed
			}
			return nil
		},
	}
}
