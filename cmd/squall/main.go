// Command squall is a load-and-chaos benchmark harness for Temporal.
// One file per subcommand; each stays thin and calls into the packages.
package main

import (
	"errors"
	"fmt"
	"os"
	_ "time/tzdata" // the FROM scratch image has no zoneinfo

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
)

// Stamped by the Makefile via -ldflags.
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes: the contract CI scripts rely on.
const (
	exitPass  = 0
	exitFail  = 1 // the run's verdict failed
	exitUsage = 2 // bad input or set-up error
)

// errVerdictFailed is returned when a run completed but its verdict is "fail".
var errVerdictFailed = errors.New("verdict: fail")

func main() {
	root := &cobra.Command{
		Use:           "squall",
		Short:         "Load-and-chaos benchmark harness for Temporal",
		Version:       fmt.Sprintf("%s (commit %s, temporal server %s)", version, commit, cluster.ServerVersion),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cluster.Usagef("%v (see --help)", err) })
	root.AddCommand(newRunCmd(), newServerCmd(), newWorkerCmd(), newListCmd(), newReportCmd())
	root.AddCommand(newCleanupCmd())
	os.Exit(exitCode(root.Execute()))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitPass
	case errors.Is(err, errVerdictFailed):
		fmt.Fprintln(os.Stderr, "squall:", err)
		return exitFail
	default:
		// Usage errors and set-up failures (the cluster did not come up, the
		// run directory cannot be written) both exit 2: no verdict was reached.
		fmt.Fprintln(os.Stderr, "squall:", err)
		return exitUsage
	}
}
