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
	var (
		o       cluster.ServerOptions
		dynamic []string
		pfaults []string
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the embedded Temporal server (SQLite file or PostgreSQL) until SIGTERM",
		Long: `Runs the Temporal server compiled into squall, on a SQLite file (default)
or on PostgreSQL (--persistence postgres --dsn ...), with namespace "default"
registered. The schema is the server's own, created when absent; restarting on
an existing --db or database keeps its data.
'squall run' starts this as a child process; run it by hand to keep a server up
between runs (then point 'squall run --address' at it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Dynamic, err = cluster.ParseKeyValues("--dynamic-config", dynamic); err != nil {
				return err
			}
			for _, pf := range pfaults {
				r, err := cluster.ParsePersistenceRule(pf)
				if err != nil {
					return cluster.Usagef("%v", err)
				}
				o.PersistenceFaults = append(o.PersistenceFaults, r)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return cluster.RunServer(ctx, o, func(hostPort string) {
				// The parent process waits for this exact line.
				fmt.Printf("%s %s\n", cluster.ReadyLine, hostPort)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Persistence, "persistence", cluster.PersistenceSQLite, "where the server keeps its data: sqlite (--db) or postgres (--dsn)")
	f.StringVar(&o.DBPath, "db", "squall-temporal.db", "SQLite database file (created if absent, reused otherwise)")
	f.StringVar(&o.DSN, "dsn", "", "postgres://USER:PASSWORD@HOST:PORT/DB for --persistence postgres: DB and DB_visibility are created with schema if absent, reused otherwise")
	f.IntVar(&o.Shards, "shards", 1, "history shards; fixed when the database is created (a different count on an existing one is refused)")
	f.IntVar(&o.Port, "port", 7233, "frontend gRPC port (the server also uses the next 7 ports for its internal services)")
	f.StringVar(&o.BindIP, "bind", "127.0.0.1", "frontend bind address (0.0.0.0 inside a container)")
	f.IntVar(&o.MetricsPort, "metrics-port", 0, "serve the server's Prometheus metrics on this port (0 = off)")
	f.StringArrayVar(&dynamic, "dynamic-config", nil, "dynamic config override key=value (repeatable), e.g. limit.historyCount.suggestContinueAsNew=500")
	f.StringVar(&o.LogLevel, "log-level", "warn", "server log level: debug, info, warn, error")
	f.StringVar(&o.LogFile, "log-file", "", "write the server log to this file instead of stdout")
	f.IntVar(&o.ControlPort, "control-port", 0, "serve run-time persistence fault switching on this loopback port (0: off)")
	f.StringArrayVar(&pfaults, "persistence-fault", nil, "static persistence fault STORE.METHOD=ERROR:RATE (repeatable), e.g. ExecutionStore.UpdateWorkflowExecution=ExecuteAndTimeout:0.05")
	return cmd
}
