// Package cli is squall's command line, one file per subcommand; each
// stays thin and calls into the packages. Main is the public entry point:
// cmd/squall calls it, and so does a user's own module that registers
// scenarios of its own (see examples/custom-scenario) and gets the whole
// CLI with them.
package cli

import (
	"fmt"
	"os"
	_ "time/tzdata" // the FROM scratch image has no zoneinfo

	// The FROM scratch image has no CA certificates either: without these
	// (used only where the system has none) TLS to a cluster with a public
	// certificate, e.g. Temporal Cloud, fails from a container.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/spf13/cobra"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/exitcode"
)

// Stamped by the Makefile via -ldflags (-X .../cli.version=...).
var (
	version = "dev"
	commit  = "unknown"
)

// errVerdictFailed is returned when a run completed but its verdict is "fail".
var errVerdictFailed = exitcode.ErrVerdictFailed

// Main runs the squall command line on os.Args and exits with the code of
// the outcome's kind (package exitcode). Scenarios registered before it is
// called (in init functions) are part of every subcommand, workers
// included: squall run starts its workers from the same binary.
func Main() {
	os.Exit(exitCode(newRootCmd().Execute()))
}

// newRootCmd builds the whole command tree; Main executes it and
// `squall docs` renders it into the reference pages.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "squall",
		Short:         "Load-and-chaos benchmark harness for Temporal",
		Version:       fmt.Sprintf("%s (commit %s, %s)", version, commit, builtIn()),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cluster.Usagef("%v (see --help)", err) })
	root.AddCommand(newRunCmd(), newCapacityCmd(), newServerCmd(), newWorkerCmd(), newListCmd(), newReportCmd())
	root.AddCommand(newCompareCmd())
	root.AddCommand(newCleanupCmd(), newPingCmd())
	root.AddCommand(newDocsCmd())
	return root
}

// exitCode prints err (if any) and maps it to the exit code of its kind
// (package exitcode holds the table).
func exitCode(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "squall:", err)
	}
	return exitcode.Of(err)
}

// builtIn says what server this binary carries, so a user can tell the
// full squall from the lean one.
func builtIn() string {
	if cluster.Lean {
		return "lean: no Temporal server or container engine inside"
	}
	return "temporal server " + cluster.ServerVersion
}
