package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/scenarios"
	_ "github.com/squallbench/squall/scenarios/all"
)

func newListCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:       "list scenarios|faults",
		Short:     "List what squall can run: scenarios or fault kinds (name and description, one per line)",
		ValidArgs: []string{"scenarios", "faults"},
		Args:      cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch args[0] {
			case "scenarios":
			case "faults":
				for _, k := range faults.All() {
					fmt.Fprintf(out, "%-20s %s\n", k.Name, k.Description)
					if verbose {
						listOptions(out, k.Params)
					}
				}
				return nil
			default:
				return cluster.Usagef("unknown list %q: try 'squall list scenarios' or 'squall list faults'", args[0])
			}
			for _, s := range scenarios.All() {
				fmt.Fprintf(out, "%-14s %s\n", s.Name, s.Description)
				if verbose {
					if s.Proves != "" {
						fmt.Fprintf(out, "    default run proves: %s\n", s.Proves)
					}
					listOptions(out, s.Options)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also list each scenario's options with their defaults")
	return cmd
}

func listOptions(out io.Writer, opts []scenarios.Option) {
	for _, o := range opts {
		kind := string(o.Kind)
		if o.Kind == scenarios.Enum {
			kind = strings.Join(o.Choices, "|")
		}
		fmt.Fprintf(out, "    %s=%s  (%s) %s\n", o.Name, o.Default, kind, o.Help)
	}
}
