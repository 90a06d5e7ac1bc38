package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/exitcode"
	"github.com/squallbench/squall/reports"
)

func newReportMatrixCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "matrix DIR",
		Short: "Build the chaos matrix (matrix.md, matrix.json, matrix.html) from the runs of scripts/chaos-matrix.sh",
		Long: `Reads DIR/SCENARIO/FAULT run directories (and FAULT.na files saying why a
fault kind does not apply to a scenario) and writes one matrix: rows
scenarios, columns fault kinds, each cell pass/fail, lost workflows,
violated invariants, iterations failed and reported, the max corrected
latency in the fault window and recovered_after_s. Prints the Markdown.

Exit codes: 0 every applicable cell passed, 1 a cell failed, 2 DIR holds
no matrix.`,
		Example: `  scripts/chaos-matrix.sh            # runs it all, then this
  squall report matrix reports/out/chaos-matrix-20261202T010000Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := reports.BuildMatrix(args[0])
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return cluster.Usagef("report matrix: %v: give the directory scripts/chaos-matrix.sh wrote", err)
				}
				return cluster.Usagef("report matrix: %v", err)
			}
			if err := reports.WriteMatrix(m); err != nil {
				return fmt.Errorf("report matrix: %w", err)
			}
			fmt.Fprint(cmd.OutOrStdout(), m.Markdown())
			fmt.Fprintf(cmd.OutOrStdout(), "\nmatrix: %s\n", filepath.Join(m.Dir, reports.FileMatrixHTML))
			if m.Failed > 0 {
				return fmt.Errorf("%d of %d applicable cells failed: %w", m.Failed, m.Failed+m.Passed, exitcode.ErrVerdictFailed)
			}
			return nil
		},
	}
}
