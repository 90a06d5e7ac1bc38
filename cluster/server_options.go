package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// ServerVersion is the Temporal server version compiled into squall.
const ServerVersion = "1.32.2"

// DefaultNamespace is registered on every embedded server.
const DefaultNamespace = "default"

// LoadTestDynamicConfig are the embedded server's defaults, tuned for load
// tests on a single shard. Each can be overridden with --dynamic-config.
var LoadTestDynamicConfig = map[string]string{
	// With one history shard the queue processors poll at most this often; the
	// default (20/s) adds tens of milliseconds to every task hop under load.
	"history.transferProcessorMaxPollRPS":   "10000",
	"history.timerProcessorMaxPollRPS":      "10000",
	"history.visibilityProcessorMaxPollRPS": "10000",
	"history.outboundProcessorMaxPollRPS":   "10000",
	// One partition: with a handful of pollers, tasks in other partitions wait
	// for forwarding, which inflates latency without adding throughput.
	"matching.numTaskqueueReadPartitions":  "1",
	"matching.numTaskqueueWritePartitions": "1",
	// The benchmark itself is the load; do not let frontend rate limits shape it.
	"frontend.rps":          "100000",
	"frontend.namespaceRPS": "100000",
	// Needed by later scenarios and cheap to allow.
	"system.enableEagerWorkflowStart": "true",
}

// ServerOptions configure the embedded server.
type ServerOptions struct {
	// Persistence is "sqlite" (default: DBPath) or "postgres" (DSN).
	Persistence string
	DBPath      string // SQLite file; created with schema if absent, reused otherwise
	// DSN is postgres://USER:PASSWORD@HOST:PORT/DB: databases DB and
	// DB_visibility are created with schema if absent, reused otherwise.
	DSN string
	// Shards is the number of history shards (0: 1). Fixed when a
	// database is created; a different count on an existing one is refused.
	Shards      int
	BindIP      string            // frontend bind address ("127.0.0.1"; "0.0.0.0" inside a container)
	Port        int               // frontend gRPC port
	MetricsPort int               // Prometheus /metrics port; 0 disables
	Dynamic     map[string]string // dynamic config overrides, YAML scalar values
	LogLevel    string            // server log level
	LogFile     string            // server log file; empty = stderr
	// ControlPort serves run-time persistence fault switching (0: off).
	ControlPort int
	// Services are the Temporal services this process runs (empty: all of
	// them, the whole cluster in one process). A process running some of
	// them is one node of a cluster whose other nodes are processes of
	// their own, meeting through the database (membership) on Postgres.
	Services []string
	// BroadcastAddress is where the other processes reach this one ("":
	// 127.0.0.1, internal services bound to loopback; BroadcastAuto: this
	// host's own address, every service bound to BindIP, as in a container).
	BroadcastAddress string
	// FrontendAddress is the cluster's frontend host:port as the cluster
	// metadata records it ("": this process's own first port on 127.0.0.1).
	// Every process of one cluster must give the same, or each start
	// rewrites the record.
	FrontendAddress string
	// PersistenceFaults are static fault-injection rules, fixed for this
	// server process (the way to get ExecuteAndTimeout).
	PersistenceFaults []PersistenceRule
}

// checkWritable fails early, with a clear message, when the DB cannot be created.
func checkWritable(dbPath string) error {
	dir := filepath.Dir(dbPath)
	st, err := os.Stat(dir)
	if err != nil {
		return Usagef("database directory %s does not exist: create it or choose another --db", dir)
	}
	if !st.IsDir() {
		return Usagef("database path %s: %s is not a directory", dbPath, dir)
	}
	f, err := os.OpenFile(dbPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Usagef("database file %s is not writable (%v): choose another --db", dbPath, err)
	}
	return f.Close()
}

// bindFor is where a service listens: the frontend on BindIP, internal
// services on loopback unless other hosts must reach them (a broadcast
// address that is not loopback).
func (o ServerOptions) bindFor(service string) string {
	if service == ServiceFrontend || (o.BroadcastAddress != "" && !isLoopback(o.BroadcastAddress)) {
		return o.BindIP
	}
	return "127.0.0.1"
}

func (o ServerOptions) frontendAddress() string {
	if o.FrontendAddress != "" {
		return o.FrontendAddress
	}
	return fmt.Sprintf("127.0.0.1:%d", o.Port)
}

func advertisedIP(bind string) string {
	if bind == "0.0.0.0" || bind == "" {
		return "127.0.0.1"
	}
	return bind
}

// Persistence backends of the embedded server.
const (
	PersistenceSQLite   = "sqlite"
	PersistencePostgres = "postgres"
)

// ReadyLine is what `squall server` prints on stdout, followed by host:port,
// once the frontend accepts connections.
const ReadyLine = "SQUALL-SERVER-READY"

// Args is the `squall server` command line (subcommand first) that makes
// RunServer see o again; flags at their default are left out. The DSN is
// not in it: pass Env to the child instead.
func (o ServerOptions) Args() []string {
	a := []string{"server"}
	str := func(flag, v, def string) {
		if v != "" && v != def {
			a = append(a, flag, v)
		}
	}
	num := func(flag string, v, def int) {
		if v != 0 && v != def {
			a = append(a, flag, strconv.Itoa(v))
		}
	}
	str("--persistence", o.Persistence, PersistenceSQLite)
	if o.Persistence == "" || o.Persistence == PersistenceSQLite {
		str("--db", o.DBPath, defaultServerDB)
	}
	num("--shards", o.Shards, 1)
	num("--port", o.Port, defaultServerPort)
	str("--bind", o.BindIP, "127.0.0.1")
	num("--metrics-port", o.MetricsPort, 0)
	keys := make([]string, 0, len(o.Dynamic))
	for k := range o.Dynamic {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a = append(a, "--dynamic-config", k+"="+o.Dynamic[k])
	}
	str("--log-level", o.LogLevel, defaultLogLevel)
	str("--log-file", o.LogFile, "")
	num("--control-port", o.ControlPort, 0)
	for _, r := range o.PersistenceFaults {
		a = append(a, "--persistence-fault", r.String())
	}
	for _, s := range o.Services {
		a = append(a, "--service", s)
	}
	str("--broadcast-address", o.BroadcastAddress, "")
	str("--frontend-address", o.FrontendAddress, "")
	return a
}

// ChildEnv is the environment of a local `squall server` child started
// with Args: squall's own plus the DSN, kept off the command line.
func (o ServerOptions) ChildEnv() []string {
	if o.DSN == "" {
		return nil // squall's own environment
	}
	return append(os.Environ(), DSNEnv+"="+o.DSN)
}

// Defaults of `squall server`'s flags.
const (
	defaultServerDB   = "squall-temporal.db"
	defaultServerPort = 7233
	defaultLogLevel   = "warn"
)
