// Package cluster starts or connects to the Temporal cluster a run drives:
// the embedded server (this file; run in-process by `squall server`), the same
// server as a killable child process (child.go), or an existing cluster (dial.go).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"github.com/squallbench/squall/exitcode"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
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
	// PersistenceFaults are static fault-injection rules, fixed for this
	// server process (the way to get ExecuteAndTimeout).
	PersistenceFaults []PersistenceRule
}

// Usagef builds a usage error (exit 2).
func Usagef(format string, a ...any) error { return exitcode.Usagef(format, a...) }

// IsUsageErr reports whether err is a usage error.
func IsUsageErr(err error) bool { return exitcode.IsUsage(err) }

// ParseDynamicConfig turns key=value pairs (defaults first, then overrides)
// into a dynamic config client. Unknown keys and values the server's own
// validation rejects are usage errors: a typo must not silently do nothing.
func ParseDynamicConfig(overrides map[string]string) (dynamicconfig.Client, error) {
	merged := map[string]string{}
	for k, v := range LoadTestDynamicConfig {
		merged[k] = v
	}
	for k, v := range overrides {
		merged[k] = v
	}
	var loader dynamicconfig.YamlLoader
	for k, v := range merged {
		loader.LoadValue(dynamicconfig.MakeKey(k), []byte("[{value: "+v+"}]"))
	}
	var problems []string
	for _, w := range append(loader.Errors, loader.Warnings...) {
		problems = append(problems, w.Error())
	}
	if len(problems) > 0 {
		return nil, Usagef("bad --dynamic-config: %s (keys are the server's dynamic config names, e.g. history.transferProcessorMaxPollRPS=5000)", strings.Join(problems, "; "))
	}
	return staticClient(loader.Map), nil
}

type staticClient dynamicconfig.ConfigValueMap

func (s staticClient) GetValue(key dynamicconfig.Key) []dynamicconfig.ConstrainedValue {
	return s[key]
}

// ParseKeyValues parses repeated key=value flags.
func ParseKeyValues(flag string, pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, Usagef("bad %s %q: want key=value", flag, p)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
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

// CheckPortFree fails with a usage error when something already listens on ip:port.
func CheckPortFree(ip string, port int, flag string) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return Usagef("port %d is in use (%v): stop whatever listens there or pick another %s", port, err, flag)
	}
	return l.Close()
}

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RunServer runs the embedded Temporal server until ctx is cancelled, then
// stops it cleanly. ready is called once the frontend accepts connections.
func RunServer(ctx context.Context, o ServerOptions, ready func(hostPort string)) error {
	if o.BindIP == "" {
		o.BindIP = "127.0.0.1"
	}
	if o.Port <= 0 || o.Port > 65535-InternalPorts {
		return Usagef("bad --port %d: want 1-%d (the server also uses the next %d ports for its internal services)", o.Port, 65535-InternalPorts, InternalPorts)
	}
	dc, err := ParseDynamicConfig(o.Dynamic)
	if err != nil {
		return err
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.Shards < 1 || o.Shards > MaxShards {
		return Usagef("bad --shards %d: want 1-%d", o.Shards, MaxShards)
	}
	var pg *postgresDSN
	fresh := true
	switch o.Persistence {
	case "", PersistenceSQLite:
		o.Persistence = PersistenceSQLite
		if o.DSN != "" {
			return Usagef("--dsn is for --persistence postgres; SQLite takes --db FILE")
		}
		if o.DBPath == "" {
			return Usagef("missing --db: name the SQLite file to keep the server's data in")
		}
		if st, err := os.Stat(o.DBPath); err == nil && st.Size() > 0 {
			fresh = false
		}
		if err := checkWritable(o.DBPath); err != nil {
			return err
		}
	case PersistencePostgres:
		if pg, err = parsePostgresDSN(o.DSN); err != nil {
			return err
		}
		if o.Port+InternalPorts > MaxPostgresPort {
			return Usagef("bad --port %d with --persistence postgres: PostgreSQL keeps the server's membership ports as SMALLINT, so want at most %d", o.Port, MaxPostgresPort-InternalPorts)
		}
	default:
		return Usagef("bad --persistence %q: want %s or %s", o.Persistence, PersistenceSQLite, PersistencePostgres)
	}
	if err := CheckPortFree(o.BindIP, o.Port, "--port"); err != nil {
		return err
	}
	for i := 1; i <= InternalPorts; i++ {
		if err := CheckPortFree("127.0.0.1", o.Port+i, "--port (the server also needs the next "+strconv.Itoa(InternalPorts)+" ports)"); err != nil {
			return err
		}
	}
	if o.MetricsPort > 0 {
		if err := CheckPortFree(o.BindIP, o.MetricsPort, "--metrics-port"); err != nil {
			return err
		}
	}

	logger, err := serverLogger(o)
	if err != nil {
		return err
	}
	cfg, err := serverConfig(o)
	if err != nil {
		return err
	}
	store := cfg.Persistence.DefaultStore
	if o.ControlPort > 0 || len(o.PersistenceFaults) > 0 {
		rf := &runtimeFaults{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}
		ds := cfg.Persistence.DataStores[store]
		ds.FaultInjection = &config.FaultInjection{Targets: staticFaultConfig(o.PersistenceFaults), Injector: rf.inject}
		cfg.Persistence.DataStores[store] = ds
		if o.ControlPort > 0 {
			stop, err := rf.serveControl(o.ControlPort)
			if err != nil {
				return err
			}
			defer stop()
		}
	}
	sqlCfg := cfg.Persistence.DataStores[store].SQL
	where := "SQLite file " + o.DBPath
	switch {
	case pg != nil:
		where = fmt.Sprintf("postgres database %s at %s", pg.db, net.JoinHostPort(pg.host, pg.port))
		if err := pg.ensureDatabases(ctx); err != nil {
			return err
		}
		if err := pg.setupSchemas(logger); err != nil {
			return fmt.Errorf("postgres schema: %w", err)
		}
	case fresh:
		// OpenFile above may have created an empty file; the schema tool wants to own it.
		if err := sqlite.SetupSchema(sqlCfg); err != nil {
			return fmt.Errorf("set up schema in %s: %w", o.DBPath, err)
		}
	}
	if !fresh || pg != nil {
		if err := checkShardCount(ctx, sqlCfg, cfg.ClusterMetadata.CurrentClusterName, int32(o.Shards), where); err != nil {
			return err
		}
	}
	ns, err := sqlite.NewNamespaceConfig(cfg.ClusterMetadata.CurrentClusterName, DefaultNamespace, false, nil)
	if err != nil {
		return fmt.Errorf("namespace config: %w", err)
	}
	if err := sqlite.CreateNamespaces(sqlCfg, ns); err != nil {
		return fmt.Errorf("register namespace %s: %w", DefaultNamespace, err)
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return fmt.Errorf("authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return fmt.Errorf("claim mapper: %w", err)
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dc),
	)
	if err != nil {
		return fmt.Errorf("create server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	hostPort := net.JoinHostPort(advertisedIP(o.BindIP), strconv.Itoa(o.Port))
	if err := waitTCP(ctx, hostPort, 60*time.Second); err != nil {
		_ = srv.Stop()
		return fmt.Errorf("server did not listen on %s: %w", hostPort, err)
	}
	if ready != nil {
		ready(hostPort)
	}
	<-ctx.Done()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop() }()
	select {
	case err := <-stopped:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("server did not stop within 30s")
	}
}

func advertisedIP(bind string) string {
	if bind == "0.0.0.0" || bind == "" {
		return "127.0.0.1"
	}
	return bind
}

func waitTCP(ctx context.Context, hostPort string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", hostPort, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func serverLogger(o ServerOptions) (tlog.Logger, error) {
	level := o.LogLevel
	if level == "" {
		level = "warn"
	}
	switch level {
	case "debug", "info", "warn", "error":
	default:
		return nil, Usagef("bad --log-level %q: want debug, info, warn or error", level)
	}
	return tlog.NewZapLogger(tlog.BuildZapLogger(tlog.Config{
		Stdout:     o.LogFile == "",
		Level:      level,
		OutputFile: o.LogFile,
	})), nil
}

// Persistence backends of the embedded server.
const (
	PersistenceSQLite   = "sqlite"
	PersistencePostgres = "postgres"
)

func serverConfig(o ServerOptions) (*config.Config, error) {
	cfg := &config.Config{}
	shards := int32(max(o.Shards, 1))
	sqlCfg := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: o.DBPath,
		// Bare pragma names: the plugin prefixes them itself. (The server's own
		// lite server adds "_", which the driver silently ignores, so its WAL
		// setting never takes effect.)
		ConnectAttributes: map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "normal",
			"busy_timeout": "10000",
		},
		MaxConns:     1,
		MaxIdleConns: 1,
	}
	// Fixed internal ports (frontend port + 1..6): a server restarted on the
	// same data after a kill comes back as the same cluster members. With
	// fresh ports each time, the dead instance's membership entries would
	// keep requests routed to nowhere until they expire (over a minute).

	svc := func(grpc, membership int, frontend bool) config.Service {
		s := config.Service{RPC: config.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnLocalHost: true}}
		if frontend && o.BindIP != "127.0.0.1" {
			s.RPC.BindOnLocalHost = false
			s.RPC.BindOnIP = o.BindIP
		}
		return s
	}
	cfg.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}
	if o.MetricsPort > 0 {
		cfg.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			ListenAddress: net.JoinHostPort(o.BindIP, strconv.Itoa(o.MetricsPort)),
			HandlerPath:   "/metrics",
		}}
	}
	cfg.Persistence = config.Persistence{
		DefaultStore:     sqliteplugin.PluginName,
		VisibilityStore:  sqliteplugin.PluginName,
		NumHistoryShards: shards,
		DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
	}
	if o.Persistence == PersistencePostgres {
		pg, err := parsePostgresDSN(o.DSN)
		if err != nil {
			return nil, err
		}
		cfg.Persistence = config.Persistence{
			DefaultStore:     "postgres",
			VisibilityStore:  "postgres-visibility",
			NumHistoryShards: shards,
			DataStores: map[string]config.DataStore{
				"postgres":            {SQL: pg.sqlConfig(pg.db)},
				"postgres-visibility": {SQL: pg.sqlConfig(pg.visibilityDB())},
			},
		}
	}
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: fmt.Sprintf("127.0.0.1:%d", o.Port)},
		},
	}
	cfg.DCRedirectionPolicy = config.DCRedirectionPolicy{Policy: "noop"}
	cfg.Services = map[string]config.Service{
		"frontend": svc(o.Port, o.Port+1, true),
		"history":  svc(o.Port+2, o.Port+3, false),
		"matching": svc(o.Port+4, o.Port+5, false),
		"worker":   svc(o.Port+6, o.Port+7, false),
	}
	cfg.Archival = config.Archival{
		History:    config.HistoryArchival{State: "disabled"},
		Visibility: config.VisibilityArchival{State: "disabled"},
	}
	cfg.PublicClient = config.PublicClient{HostPort: fmt.Sprintf("127.0.0.1:%d", o.Port)}
	cfg.NamespaceDefaults = config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
		History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
		Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
	}}
	return cfg, nil
}

// InternalPorts is how many ports after the frontend port the embedded
// server uses for its internal services and membership.
const InternalPorts = 7

// FreePortRange finds a frontend port whose next InternalPorts ports are
// free too, for a server squall starts itself.
//
// It picks below the kernel's ephemeral range: the ports stay clear of
// outgoing connections, and PostgreSQL stores membership ports as a
// SMALLINT, so they must be below 32768.
func FreePortRange() (int, error) {
	for try := 0; try < 200; try++ {
		base := freeRangeLow + rand.IntN(MaxPostgresPort-InternalPorts-freeRangeLow)
		if CheckPortFree("127.0.0.1", base, "") != nil {
			continue
		}
		ok := true
		for i := 1; i <= InternalPorts && ok; i++ {
			ok = CheckPortFree("127.0.0.1", base+i, "") == nil
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no free range of ports for the embedded server")
}

// MaxPostgresPort is the highest frontend+internal port a server on
// PostgreSQL can use (cluster_membership.rpc_port is a SMALLINT).
const MaxPostgresPort = 32767

const freeRangeLow = 20000

// ReadyLine is what `squall server` prints on stdout, followed by host:port,
// once the frontend accepts connections.
const ReadyLine = "SQUALL-SERVER-READY"
