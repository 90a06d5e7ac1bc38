package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/reports"
)

func newReportMergeCmd() *cobra.Command {
	var (
		out string
		o   reports.MergeOptions
	)
	cmd := &cobra.Command{
		Use:   "merge DIR... --out DIR",
		Short: "Merge the run directories of the drivers of one run (squall run --driver i/n) into one report",
		Long: `Merges the drivers' result streams as if one driver had seen every event:
intervals re-cut on whole seconds from the shared start, latency histograms
merged bucket by bucket (never averaged percentiles), counters and
verifications summed, journals concatenated, fault windows from driver 1;
one report, one verdict, thresholds judged on the merged data.

Refused (exit 2): directories of different run ids, scenarios, options or
schema versions, a duplicated driver index. A missing driver fails the
verdict unless --allow-missing.`,
		Example: `  squall report merge /runs/driver-* --out /runs/merged`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return cluster.Usagef("missing --out: the directory the merged run goes to (not one of the inputs)")
			}
			dirs, err := expandDirs(args)
			if err != nil {
				return err
			}
			began := time.Now()
			rep, err := reports.Merge(dirs, out, o)
			if err != nil {
				if refused := (*reports.RefusedError)(nil); errors.As(err, &refused) {
					return cluster.Usagef("merge: %v", err)
				}
				return fmt.Errorf("merge: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %d run directories into %s in %s\n", len(dirs), out, time.Since(began).Round(time.Millisecond))
			if len(rep.Run.MissingDrivers) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "squall: warning: driver(s) %v of %d missing from the merge\n", rep.Run.MissingDrivers, rep.Run.Drivers)
			}
			fmt.Fprint(cmd.OutOrStdout(), reports.Summary(rep, out))
			return verdictError(rep)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory for the merged run (results.jsonl, journal.jsonl, reports)")
	cmd.Flags().BoolVar(&o.AllowMissing, "allow-missing", false, "accept a merge that lacks some drivers (listed in the report) without failing the verdict")
	return cmd
}

// expandDirs expands glob patterns itself (/runs/driver-*): in a container
// without a shell nobody else would.
func expandDirs(args []string) ([]string, error) {
	var dirs []string
	for _, a := range args {
		if _, err := os.Stat(a); err == nil || !strings.ContainsAny(a, "*?[") {
			dirs = append(dirs, a)
			continue
		}
		m, err := filepath.Glob(a)
		if err != nil || len(m) == 0 {
			return nil, cluster.Usagef("merge: %s matches no run directory", a)
		}
		dirs = append(dirs, m...)
	}
	return dirs, nil
}
