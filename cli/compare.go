package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/compare"
	"github.com/squallbench/squall/reports"
)

func newCompareCmd() *cobra.Command {
	var (
		o          compare.Options
		tolerances []string
		format     string
		out        string
	)
	cmd := &cobra.Command{
		Use:   "compare BASE CURRENT",
		Short: "Compare runs against a baseline; exit 1 on a significant regression beyond tolerance",
		Long: `Compare CURRENT against BASE, per scenario and metric. Each is a run directory,
a report.json, or a directory of repeated runs (run-1..N, or any subdirectories
holding report.json).

With at least 4 runs a side (8 recommended), a Mann–Whitney U test on per-run
values decides significance at --alpha. With one run a side, a moving-block
bootstrap over the per-interval values does (weaker: it cannot see run-to-run
noise). A metric regresses when it is significantly worse AND worse by more
than its tolerance; lost, failed and invariant violations regress on any
increase.

Exit codes: 0 no regression, 1 regression, 2 bad or incomparable input.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return cluster.Usagef("compare takes BASE and CURRENT, got %d argument(s)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.PerMetric = map[string]float64{}
			for _, t := range tolerances {
				metric, f, err := compare.ParseTolerance(t)
				if err != nil {
					return cluster.Usagef("%v", err)
				}
				if metric == "" {
					o.MaxRegression = f
				} else {
					o.PerMetric[metric] = f
				}
			}
			if out != "" {
				if err := reports.CheckOutsideInputs("compare", out, args); err != nil {
					return err
				}
			}
			base, err := compare.Load(args[0])
			if err != nil {
				return cluster.Usagef("base: %v", err)
			}
			cur, err := compare.Load(args[1])
			if err != nil {
				return cluster.Usagef("current: %v", err)
			}
			res, err := compare.Compare(base, cur, o)
			if err != nil {
				return cluster.Usagef("%v", err)
			}
			var text string
			if format == "html" {
				page, err := compare.HTML(res, base, cur)
				if err != nil {
					return fmt.Errorf("render html: %w", err)
				}
				text = string(page)
			} else if text, err = compare.Render(res, format); err != nil {
				return cluster.Usagef("%v", err)
			}
			if out != "" {
				if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
					return cluster.Usagef("--out: %v", err)
				}
				fmt.Fprint(cmd.OutOrStdout(), compare.Table(res))
			} else {
				fmt.Fprint(cmd.OutOrStdout(), text)
			}
			if res.Regressions > 0 {
				return fmt.Errorf("%w: %d metric(s) regressed", errVerdictFailed, res.Regressions)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&o.Alpha, "alpha", 0.05, "significance level of the tests")
	fl.BoolVar(&o.Holm, "holm", false, "adjust each scenario's p-values for the number of metrics compared (Holm): fewer false alarms when many metrics are noisy, less power")
	fl.StringArrayVar(&tolerances, "max-regression", []string{"10%"}, "tolerated worsening: 10% for every metric, or METRIC=20% for one (repeatable); metrics: "+strings.Join(compare.MetricNames(), ", "))
	fl.BoolVar(&o.AllowVersions, "allow-version-change", false, "compare base and current builds of different squall or server versions (a CI gate between commits, a server upgrade); every other difference is still refused")
	fl.BoolVar(&o.AllowDifferent, "allow-different", false, "compare inputs whose scenarios, options, load shape or versions differ (the differences are listed)")
	fl.StringVar(&format, "format", "table", "output: "+strings.Join(compare.Formats, ", "))
	fl.StringVar(&out, "out", "", "write the output to FILE (the table still goes to stdout); never inside an input")
	return cmd
}
