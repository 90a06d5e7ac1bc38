// Package cluster starts or connects to the Temporal cluster a run drives:
// the embedded server (embedded.go; run in-process by `squall server`), the same
// server as a killable child process (process.go), a testcontainers backend
// (container.go), or the user's own cluster (conn.go).
//
// A squall built with -tags squall_lean (bin/squall-lean) has neither the
// server nor the container engine inside (lean.go says what it refuses):
// it drives, verifies and reports on a cluster someone else runs, at a
// fraction of the full binary's memory.
package cluster
