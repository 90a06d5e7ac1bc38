package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
)

func newCleanupCmd() *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove containers and networks left behind by crashed --cluster container runs",
		Long: `Removes every Docker container and network labelled ` + cluster.LabelRunID + `
(all runs, or only --run-id's), running or not, and prints what it removed.
A run removes its own containers on exit, on errors and on Ctrl-C; this is for
runs that were killed (SIGKILL, a crash, a reboot). Images are kept: they are
a cache ('docker image rm' removes them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			removed, err := cluster.Cleanup(cmd.Context(), runID)
			out := cmd.OutOrStdout()
			for _, l := range removed {
				fmt.Fprintf(out, "removed %s %s (run %s)\n", l.Kind, l.Name, l.RunID)
			}
			if err == nil && len(removed) == 0 {
				fmt.Fprintln(out, "nothing to remove: no container or network carries squall's labels")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&runID, "run-id", "", "only this run's containers and networks (default: all of squall's)")
	return cmd
}
