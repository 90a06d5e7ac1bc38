package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/metrics"
	"github.com/squallbench/squall/workers"
)

func newWorkerCmd() *cobra.Command {
	var (
		cf        cluster.ConnFlags
		taskQueue string
		tuning    workers.Tuning
		listen    string
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker process with every scenario's workflows and activities",
		Long: `Polls one task queue with every scenario's workflows and activities registered.
'squall run' starts these as child processes (--workers N); run it by hand to
add workers on other machines for a run against an existing cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, target, err := resolveConn(cmd, cf, false)
			if err != nil {
				return err
			}
			if target != cluster.TargetExternal {
				return cluster.Usagef("no cluster address: the worker needs the cluster's frontend, from --address, TEMPORAL_ADDRESS or a temporal.toml profile")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			if listen != "" {
				ep, err := serveSDKMetrics(listen, &conn)
				if err != nil {
					return err
				}
				defer closeEndpoint(ep)
			}
			return workers.Run(ctx, conn, taskQueue, tuning, func() {
				fmt.Println(workers.ReadyLine) // the parent process waits for this line
			})
		},
	}
	f := cmd.Flags()
	addConnFlags(f, &cf, "cluster frontend host:port")
	f.StringVar(&taskQueue, "task-queue", "", "task queue to poll")
	workers.AddFlags(f, &tuning)
	f.StringVar(&listen, "metrics-listen", "", "serve the Temporal SDK's metrics (schedule-to-start, poll and task latency, slots) on host:port")
	return cmd
}

// serveSDKMetrics sends the SDK's metrics of conn's client to a Prometheus
// endpoint on addr, beside the worker process's Go and process metrics.
func serveSDKMetrics(addr string, conn *cluster.Conn) (*metrics.Endpoint, error) {
	h := metrics.NewSDKHandler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ep, err := metrics.Serve(addr, reg)
	if err != nil {
		return nil, cluster.Usagef("--metrics-listen: %v: choose another address", err)
	}
	conn.MetricsHandler = h
	return ep, nil
}

func closeEndpoint(ep *metrics.Endpoint) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ep.Close(ctx)
}
