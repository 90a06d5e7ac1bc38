package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/squallbench/squall/cluster"
)

// newPingCmd checks that a cluster answers the way a run would reach it,
// without running anything: a script's (or a container health check's) way
// to wait for a cluster, and a user's way to test a connection profile.
func newPingCmd() *cobra.Command {
	var conn cluster.ConnFlags
	cmd := &cobra.Command{
		Use:   "ping",
		Short: "Check that a Temporal cluster answers: its frontend and the namespace",
		Long: `Dials the cluster as 'squall run' would (the same flags, TEMPORAL_*
environment and temporal.toml profile), checks the frontend answers and the
namespace exists, and prints the server's version. Exit 0 when it answers,
2 when it does not within --connect-timeout, naming what to check.

A container health check of a frontend started by 'squall server':

  healthcheck:
    test: ["CMD", "/squall", "ping", "--address", "127.0.0.1:7233", "--connect-timeout", "3s"]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := resolveConn(cmd, conn, false)
			if err != nil {
				return err
			}
			c.Standalone = true
			cl, err := c.Dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			version := "unknown"
			if info, err := cl.WorkflowService().GetSystemInfo(cmd.Context(), &workflowservice.GetSystemInfoRequest{}); err == nil && info.GetServerVersion() != "" {
				version = info.GetServerVersion()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "answers: %s; Temporal server %s\n", c.Describe(), version)
			return nil
		},
	}
	addConnFlags(cmd.Flags(), &conn, "the cluster's frontend host:port")
	return cmd
}
