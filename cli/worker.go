package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/workers"
)

func newWorkerCmd() *cobra.Command {
	var (
		conn      cluster.Conn
		taskQueue string
		tuning    workers.Tuning
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker process with every scenario's workflows and activities",
		Long: `Polls one task queue with every scenario's workflows and activities registered.
'squall run' starts these as child processes (--workers N); run it by hand to
add workers on other machines for a run against an existing cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if conn.Address == "" {
				return cluster.Usagef("missing --address: the worker needs the cluster's frontend host:port")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return workers.Run(ctx, conn, taskQueue, tuning, func() {
				fmt.Println(workers.ReadyLine) // the parent process waits for this line
			})
		},
	}
	f := cmd.Flags()
	addConnFlags(f, &conn, "cluster frontend host:port")
	f.StringVar(&taskQueue, "task-queue", "", "task queue to poll")
	workers.AddFlags(f, &tuning)
	return cmd
}
