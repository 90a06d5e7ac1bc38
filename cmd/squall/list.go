package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
	_ "github.com/squallbench/squall/scenarios/all"
)

func newListCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:       "list scenarios",
		Short:     "List what squall can run: scenarios (name and description, one per line)",
		ValidArgs: []string{"scenarios"},
		Args:      cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "scenarios" {
				return cluster.Usagef("unknown list %q: try 'squall list scenarios'", args[0])
			}
			out := cmd.OutOrStdout()
			for _, s := range scenarios.All() {
				fmt.Fprintf(out, "%-14s %s\n", s.Name, s.Description)
				if !verbose {
					continue
				}
				for _, o := range s.Options {
					kind := string(o.Kind)
					if o.Kind == scenarios.Enum {
						kind = fmt.Sprint(o.Choices)
					}
					fmt.Fprintf(out, "    --option %s=%s  (%s) %s\n", o.Name, o.Default, kind, o.Help)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also list each scenario's options with their defaults")
	return cmd
}
