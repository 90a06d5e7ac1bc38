package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/compare"
	"github.com/squallbench/squall/exitcode"
	"github.com/squallbench/squall/reports"
)

func newReportCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "report RUN_DIR | report --format benchfmt DIR...",
		Short: "Rebuild report.json, report.md and report.html from a run directory's results.jsonl, or print runs as Go benchmark lines",
		Long: `Without --format: rebuild report.json and report.md of RUN_DIR from its
results.jsonl, print the summary, exit 1 if the verdict fails.

--format benchfmt: print every run of each DIR (a run directory, a report.json
or a directory of repeated runs) as Go benchmark lines on stdout, one per
scenario, metric and run, for benchstat:
  squall report --format benchfmt base/ > base.txt
  squall report --format benchfmt current/ > current.txt
  benchstat base.txt current.txt
It only reads.`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case format == "" && len(args) != 1:
				return cluster.Usagef("report takes one RUN_DIR, got %d argument(s) (several only with --format benchfmt)", len(args))
			case format != "" && len(args) == 0:
				return cluster.Usagef("report --format %s takes one or more run directories", format)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "":
			case "benchfmt":
				for _, dir := range args {
					side, err := compare.Load(dir)
					if err != nil {
						return cluster.Usagef("%v", err)
					}
					fmt.Fprint(cmd.OutOrStdout(), compare.Benchfmt(side))
				}
				return nil
			default:
				return cluster.Usagef("--format %q: the one format is benchfmt (omit --format to rebuild the reports)", format)
			}
			rep, err := reports.Rebuild(args[0])
			if err != nil {
				return cluster.Usagef("%v", err)
			}
			fmt.Fprint(cmd.OutOrStdout(), reports.Summary(rep, args[0]))
			return verdictError(rep)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "benchfmt: print the runs of DIR... as Go benchmark lines for benchstat, instead of rebuilding the reports")
	cmd.AddCommand(newReportMergeCmd(), newReportMatrixCmd())
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
