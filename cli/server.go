package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
)

func newServerCmd() *cobra.Command {
	var o cluster.ServerOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the embedded Temporal server (SQLite file or PostgreSQL) until SIGTERM",
		Long: `Runs the Temporal server compiled into squall, on a SQLite file (default)
or on PostgreSQL (--persistence postgres --dsn ...), with namespace "default"
registered. The schema is the server's own, created when absent; restarting on
an existing --db or database keeps its data.
'squall run' starts this as a child process; run it by hand to keep a server up
between runs (then point 'squall run --address' at it).

With --service it runs only some of Temporal's services: one node of a cluster
whose frontend, history, matching and worker services are separate processes
(several history hosts sharing the shards), finding each other through the
database. That needs PostgreSQL: the server's SQLite lives inside one process.
See docs/topology.md.`,
		Args: cobra.NoArgs,
	}
	if cluster.Lean {
		// Nothing to serve in this build: whatever it is given, the same
		// refusal (not cobra's "unknown flag"), and no place in --help.
		cmd.Hidden, cmd.DisableFlagParsing, cmd.Args = true, true, cobra.ArbitraryArgs
	}
	finish := cluster.BindServerFlags(cmd.Flags(), &o)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := finish(); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		return cluster.RunServer(ctx, o, func(hostPort string) {
			// The parent process waits for this exact line.
			fmt.Printf("%s %s\n", cluster.ReadyLine, hostPort)
		})
	}
	return cmd
}
