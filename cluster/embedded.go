//go:build !squall_lean

package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
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

// Lean says whether this build leaves the server and container engine out
// (-tags squall_lean, lean.go): this one has them.
const Lean = false

// CheckDynamicConfig is ParseDynamicConfig for those who need only its
// verdict: a plan, before anything starts.
func CheckDynamicConfig(overrides map[string]string) error {
	_, err := ParseDynamicConfig(overrides)
	return err
}

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

// RunServer runs the embedded Temporal server until ctx is cancelled, then
// stops it cleanly. ready is called once the frontend accepts connections.
func RunServer(ctx context.Context, o ServerOptions, ready func(hostPort string)) error {
	if o.BindIP == "" {
		o.BindIP = "127.0.0.1"
	}
	var err error
	if o.Services, err = normalizeServices(o.Services); err != nil {
		return err
	}
	if err := checkBroadcast(o.BroadcastAddress); err != nil {
		return err
	}
	if o.BroadcastAddress != "" && !isLoopback(o.BroadcastAddress) && isLoopback(o.BindIP) {
		return Usagef("--broadcast-address %s with --bind %s: the other processes cannot reach a service bound to loopback; use --bind 0.0.0.0", o.BroadcastAddress, o.BindIP)
	}
	n := portsNeeded(o.Services)
	if o.Port <= 0 || o.Port > 65536-n {
		return Usagef("bad --port %d: want 1-%d (%s use(s) %d consecutive ports from it)", o.Port, 65536-n, describeServices(o.Services), n)
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
		if !allServices(o.Services) {
			return Usagef("--service %s on SQLite: the other services would run in other processes, and the server's SQLite lives inside one process (one file, one writer; processes cannot share it safely); use --persistence postgres --dsn ...",
				strings.Join(o.Services, ","))
		}
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
		if o.Port+n-1 > MaxPostgresPort {
			return Usagef("bad --port %d with --persistence postgres: PostgreSQL keeps the server's membership ports as SMALLINT, so want at most %d", o.Port, MaxPostgresPort-n+1)
		}
	default:
		return Usagef("bad --persistence %q: want %s or %s", o.Persistence, PersistenceSQLite, PersistencePostgres)
	}
	ports := servicePorts(o.Port, o.Services)
	for _, s := range o.Services {
		for _, p := range ports[s] {
			if err := CheckPortFree(o.bindFor(s), p, "--port ("+describeServices(o.Services)+" use(s) "+strconv.Itoa(n)+" consecutive ports)"); err != nil {
				return err
			}
		}
	}
	if o.MetricsPort > 0 {
		if err := CheckPortFree(o.BindIP, o.MetricsPort, "--metrics-port"); err != nil {
			return err
		}
	}
	if o.BroadcastAddress == BroadcastAuto {
		ip, err := config.ListenIP()
		if err != nil {
			return fmt.Errorf("--broadcast-address auto: %w", err)
		}
		o.BroadcastAddress = ip.String()
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
	if err := registerNamespace(sqlCfg, cfg.ClusterMetadata.CurrentClusterName); err != nil {
		return err
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
		temporal.ForServices(o.Services),
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
	// Ready once the process's first service listens: the frontend when it
	// runs one (clients dial it), else the first internal service.
	hostPort := net.JoinHostPort(advertisedIP(o.bindFor(o.Services[0])), strconv.Itoa(o.Port))
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

func registerNamespace(sqlCfg *config.SQL, clusterName string) error {
	ns, err := sqlite.NewNamespaceConfig(clusterName, DefaultNamespace, false, nil)
	if err != nil {
		return fmt.Errorf("namespace config: %w", err)
	}
	if err := sqlite.CreateNamespaces(sqlCfg, ns); err != nil {
		return fmt.Errorf("register namespace %s: %w", DefaultNamespace, err)
	}
	return nil
}

// preparePostgres does for processes that are not squall's own (official
// server binaries) what squall's server does when it starts: the
// databases, the schema of squall's server version, the shard count
// check and the default namespace.
func preparePostgres(ctx context.Context, o ServerOptions) error {
	cfg, err := serverConfig(o)
	if err != nil {
		return err
	}
	pg, err := parsePostgresDSN(o.DSN)
	if err != nil {
		return err
	}
	logger, err := serverLogger(ServerOptions{LogLevel: "error", LogFile: os.DevNull})
	if err != nil {
		return err
	}
	if err := pg.ensureDatabases(ctx); err != nil {
		return err
	}
	if err := pg.setupSchemas(logger); err != nil {
		return fmt.Errorf("postgres schema: %w", err)
	}
	sqlCfg := cfg.Persistence.DataStores[cfg.Persistence.DefaultStore].SQL
	where := fmt.Sprintf("postgres database %s at %s", pg.db, net.JoinHostPort(pg.host, pg.port))
	if err := checkShardCount(ctx, sqlCfg, cfg.ClusterMetadata.CurrentClusterName, int32(max(o.Shards, 1)), where); err != nil {
		return err
	}
	return registerNamespace(sqlCfg, cfg.ClusterMetadata.CurrentClusterName)
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

	broadcast := o.BroadcastAddress
	if broadcast == "" {
		broadcast = "127.0.0.1"
	}
	cfg.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: broadcast}
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
			"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: o.frontendAddress()},
		},
	}
	cfg.DCRedirectionPolicy = config.DCRedirectionPolicy{Policy: "noop"}
	// Every service has an entry: the membership monitor keeps a ring only
	// for services in the config, and a process must see the rings of the
	// services it calls. Only those it runs get ports; the others' members
	// advertise their own ports in the ring.
	cfg.Services = map[string]config.Service{}
	for _, name := range Services {
		cfg.Services[name] = config.Service{}
	}
	for name, p := range servicePorts(o.Port, o.Services) {
		rpc := config.RPC{GRPCPort: p[0], MembershipPort: p[1]}
		if bind := o.bindFor(name); bind == "127.0.0.1" {
			rpc.BindOnLocalHost = true
		} else {
			rpc.BindOnIP = bind
		}
		cfg.Services[name] = config.Service{RPC: rpc}
	}
	cfg.Archival = config.Archival{
		History:    config.HistoryArchival{State: "disabled"},
		Visibility: config.VisibilityArchival{State: "disabled"},
	}
	// The worker service's client: this process's own frontend when it has
	// one; otherwise any frontend, found through membership.
	if slices.Contains(o.Services, ServiceFrontend) {
		cfg.PublicClient = config.PublicClient{HostPort: fmt.Sprintf("127.0.0.1:%d", o.Port)}
	}
	cfg.NamespaceDefaults = config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
		History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
		Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
	}}
	return cfg, nil
}
