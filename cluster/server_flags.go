//go:build !squall_lean

package cluster

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/testcontainers/testcontainers-go"
)

// BindServerFlags defines `squall server`'s flags on f, bound to o. After
// f is parsed, call the returned finish: it parses what the flags carry as
// text (dynamic config, persistence faults) and takes the DSN from DSNEnv
// when --dsn is not given. Args is the inverse: keep the two together.
func BindServerFlags(f *pflag.FlagSet, o *ServerOptions) (finish func() error) {
	var dynamic, pfaults []string
	var dsnFile string
	f.StringVar(&o.Persistence, "persistence", PersistenceSQLite, "where the server keeps its data: sqlite (--db) or postgres (--dsn)")
	f.StringVar(&o.DBPath, "db", defaultServerDB, "SQLite database file (created if absent, reused otherwise)")
	f.StringVar(&o.DSN, "dsn", "", "postgres://USER:PASSWORD@HOST:PORT/DB for --persistence postgres: DB and DB_visibility are created with schema if absent, reused otherwise (default from $"+DSNEnv+", which a process list does not show)")
	f.StringVar(&dsnFile, "dsn-file", "", "read the DSN from this file (e.g. a mounted secret) instead")
	f.IntVar(&o.Shards, "shards", 1, "history shards; fixed when the database is created (a different count on an existing one is refused)")
	f.IntVar(&o.Port, "port", defaultServerPort, "the process's first port: each service it runs takes two (gRPC, membership) in the order frontend, history, matching, worker; with all four the frontend is on this port and the next 7 are internal")
	f.StringVar(&o.BindIP, "bind", "127.0.0.1", "frontend bind address (0.0.0.0 inside a container; every service binds here when --broadcast-address is not loopback)")
	f.IntVar(&o.MetricsPort, "metrics-port", 0, "serve the server's Prometheus metrics on this port (0 = off)")
	f.StringArrayVar(&dynamic, "dynamic-config", nil, "dynamic config override key=value (repeatable), e.g. limit.historyCount.suggestContinueAsNew=500")
	f.StringVar(&o.LogLevel, "log-level", defaultLogLevel, "server log level: debug, info, warn, error")
	f.StringVar(&o.LogFile, "log-file", "", "write the server log to this file instead of stdout")
	f.IntVar(&o.ControlPort, "control-port", 0, "serve run-time persistence fault switching on this loopback port (0: off)")
	f.StringArrayVar(&pfaults, "persistence-fault", nil, "static persistence fault STORE.METHOD=ERROR:RATE (repeatable), e.g. ExecutionStore.UpdateWorkflowExecution=ExecuteAndTimeout:0.05")
	f.StringSliceVar(&o.Services, "service", nil, "run only these Temporal services (frontend, history, matching, worker; repeatable or comma-separated; default all): one node of a cluster of separate processes, which needs --persistence postgres")
	f.StringVar(&o.BroadcastAddress, "broadcast-address", "", "address the cluster's other processes reach this one at (default 127.0.0.1; "+BroadcastAuto+": this host's own address, as in a container)")
	f.StringVar(&o.FrontendAddress, "frontend-address", "", "the cluster's frontend host:port as its metadata records it (default: 127.0.0.1 and --port); give every process of one cluster the same")
	return func() error {
		var err error
		if o.Dynamic, err = ParseKeyValues("--dynamic-config", dynamic); err != nil {
			return err
		}
		if len(o.Dynamic) == 0 {
			o.Dynamic = nil
		}
		o.PersistenceFaults = nil
		for _, pf := range pfaults {
			r, err := ParsePersistenceRule(pf)
			if err != nil {
				return Usagef("%v", err)
			}
			o.PersistenceFaults = append(o.PersistenceFaults, r)
		}
		switch {
		case o.DSN != "" && dsnFile != "":
			return Usagef("--dsn and --dsn-file both give the DSN: keep one")
		case dsnFile != "":
			b, err := os.ReadFile(dsnFile)
			if err != nil {
				return Usagef("--dsn-file: %v", err)
			}
			o.DSN = strings.TrimSpace(string(b))
		case o.DSN == "":
			o.DSN = os.Getenv(DSNEnv)
		}
		return nil
	}
}

// ContainerSecrets are the flags and files that give a server container
// the DSN: a container's command and environment are on show in
// `docker inspect`, so the DSN goes in as a file only it can read.
func (o ServerOptions) ContainerSecrets() ([]string, []testcontainers.ContainerFile) {
	if o.DSN == "" {
		return nil, nil
	}
	return []string{"--dsn-file", containerDSNFile}, []testcontainers.ContainerFile{secretFile(containerDSNFile, []byte(o.DSN))}
}
