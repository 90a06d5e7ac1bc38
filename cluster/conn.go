package cluster

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Conn says how to reach a cluster: the one squall starts (embedded or a
// container; Address is filled in once it runs) or the user's own. It is
// resolved once, from flags, the TEMPORAL_* environment and a temporal.toml
// profile (ResolveConn), and handed to every piece that dials.
//
// APIKey, TLS.KeyData and the GRPCMeta values are secrets: they go to the
// SDK and, for child processes, into their environment or a file
// (ChildEnv, ProfileTOML), never into argv, reports or messages.
type Conn struct {
	Address   string
	Namespace string
	APIKey    string
	TLS       TLS
	// GRPCMeta are extra gRPC headers on every call (e.g. a gateway's
	// routing or auth header).
	GRPCMeta       map[string]string
	ConnectTimeout time.Duration
	// Origin says where the target came from, for the user and the
	// report: "--address", "TEMPORAL_ADDRESS", "profile prod (/etc/temporal.toml)";
	// empty for a cluster squall starts.
	Origin string
	// Standalone: the command has no embedded server to fall back on
	// (squall ping), so an unreachable address gets no hint to drop it.
	Standalone bool

	// Starts, when set, counts the workflows started through this
	// connection (the driver's), for the harness's journal check.
	Starts *StartCounter
	// MetricsHandler receives the SDK's metrics (nil: none). Not passed to
	// child processes: each serves its own.
	MetricsHandler client.MetricsHandler
}

// TLS is the transport security of a Conn. Enabled is decided once by
// ResolveConn (an API key turns it on, as Temporal's own clients do, unless
// TLS was disabled explicitly).
type TLS struct {
	Enabled                 bool
	CertPath, KeyPath       string // client certificate (mTLS)
	CAPath                  string // CA bundle that verifies the server
	CertData, KeyData       []byte // the same inline (TEMPORAL_TLS_*_DATA)
	CAData                  []byte
	ServerName              string
	DisableHostVerification bool
}

// ConnFlags are the connection flags as typed, before the environment and
// the profile fill in what they leave out. Set says which were given (a
// flag given as its zero value, e.g. --tls=false, still wins).
type ConnFlags struct {
	Address, Namespace, APIKey string
	TLS                        bool
	TLSCertPath, TLSKeyPath    string
	TLSCAPath, TLSServerName   string
	TLSDisableHostVerification bool
	GRPCMeta                   []string // KEY=VALUE
	Profile, ConfigFile        string
	ConnectTimeout             time.Duration
	Set                        func(flag string) bool
}

// Environment variables squall reads beside Temporal's own.
const (
	// LegacyAPIKeyEnv is squall's old name for TEMPORAL_API_KEY, still read.
	LegacyAPIKeyEnv = "SQUALL_API_KEY"
	// DSNEnv carries --dsn to `squall server` children (and may be set by
	// users instead of --dsn, which a process list would show).
	DSNEnv = "SQUALL_DSN"
)

// Target says which cluster the resolved connection points at.
type Target int

const (
	// TargetOwn: squall starts the cluster itself (no address anywhere).
	TargetOwn Target = iota
	// TargetExternal: the user's cluster, at Conn.Address.
	TargetExternal
)

// ResolveConn fills in the connection: flag > environment (TEMPORAL_*) >
// temporal.toml profile (TEMPORAL_PROFILE / --profile, TEMPORAL_CONFIG_FILE /
// --config-file, else the user's default file) > default. The environment
// and profile are read through the SDK's own envconfig, so squall connects
// exactly as the Temporal CLI and the SDKs do.
//
// ownCluster is true when the user asked squall to start the cluster
// (--cluster given): an address from the environment or a profile is then
// ignored, and Origin says so. Without an address from any source the
// target is a cluster squall starts; connection settings that only make
// sense for a cluster of the user's (an API key, TLS, headers, a namespace)
// are then refused rather than silently dropped.
func ResolveConn(f ConnFlags, env envconfig.EnvLookup, ownCluster bool) (Conn, Target, error) {
	if env == nil {
		env = envconfig.EnvLookupOS
	}
	set := f.Set
	if set == nil {
		set = func(string) bool { return false }
	}
	lookup := func(k string) string { v, _ := env.LookupEnv(k); return v }

	file := f.ConfigFile
	if file == "" {
		file = lookup("TEMPORAL_CONFIG_FILE")
	}
	if f.ConfigFile != "" {
		if _, err := os.Stat(f.ConfigFile); err != nil {
			return Conn{}, 0, Usagef("--config-file %s: %v: give the path of a temporal.toml", f.ConfigFile, err)
		}
	}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath: f.ConfigFile, ConfigFileProfile: f.Profile, EnvLookup: env,
	})
	if err != nil {
		return Conn{}, 0, Usagef("connection profile: %v: check --profile/TEMPORAL_PROFILE and --config-file/TEMPORAL_CONFIG_FILE", err)
	}
	if file == "" {
		file = envconfig.DefaultConfigFilePath()
	}
	profileName, profileFrom := f.Profile, "--profile"
	if profileName == "" {
		if profileName = lookup("TEMPORAL_PROFILE"); profileName != "" {
			profileFrom = "TEMPORAL_PROFILE"
		} else {
			profileName, profileFrom = envconfig.DefaultConfigFileProfile, file
		}
	}

	c := Conn{Address: prof.Address, Namespace: prof.Namespace, APIKey: prof.APIKey, GRPCMeta: maps.Clone(prof.GRPCMeta), ConnectTimeout: f.ConnectTimeout}
	tlsExplicit := false // TLS turned on or off by name, not implied by an API key
	if t := prof.TLS; t != nil {
		c.TLS = TLS{Enabled: !t.Disabled, CertPath: t.ClientCertPath, KeyPath: t.ClientKeyPath, CAPath: t.ServerCACertPath,
			CertData: t.ClientCertData, KeyData: t.ClientKeyData, CAData: t.ServerCACertData,
			ServerName: t.ServerName, DisableHostVerification: t.DisableHostVerification}
		tlsExplicit = true
	}
	switch {
	case set("address"):
		c.Origin = "--address"
	case lookup("TEMPORAL_ADDRESS") != "":
		c.Origin = "TEMPORAL_ADDRESS"
	case prof.Address != "":
		if profileFrom == file {
			c.Origin = fmt.Sprintf("profile %s (%s)", profileName, file)
		} else {
			c.Origin = fmt.Sprintf("profile %s from %s (%s)", profileName, profileFrom, file)
		}
	}

	// Flags win over both.
	if set("tls") {
		c.TLS.Enabled, tlsExplicit = f.TLS, true
	}
	overlay := func(flag string, dst *string, v string) {
		if set(flag) {
			*dst = v
		}
	}
	overlay("address", &c.Address, f.Address)
	overlay("namespace", &c.Namespace, f.Namespace)
	overlay("api-key", &c.APIKey, f.APIKey)
	overlay("tls-cert-path", &c.TLS.CertPath, f.TLSCertPath)
	overlay("tls-key-path", &c.TLS.KeyPath, f.TLSKeyPath)
	overlay("tls-ca-path", &c.TLS.CAPath, f.TLSCAPath)
	overlay("tls-server-name", &c.TLS.ServerName, f.TLSServerName)
	if c.APIKey == "" {
		c.APIKey = lookup(LegacyAPIKeyEnv)
	}
	if set("tls-disable-host-verification") {
		c.TLS.DisableHostVerification = f.TLSDisableHostVerification
	}
	if len(f.GRPCMeta) > 0 {
		meta, err := ParseGRPCMeta(f.GRPCMeta)
		if err != nil {
			return Conn{}, 0, err
		}
		if c.GRPCMeta == nil {
			c.GRPCMeta = map[string]string{}
		}
		maps.Copy(c.GRPCMeta, meta)
	}
	// Giving TLS material means TLS, unless it was turned off by name.
	if !tlsExplicit && (c.TLS.CertPath != "" || c.TLS.CAPath != "" || c.TLS.ServerName != "" || len(c.TLS.CertData) > 0 || len(c.TLS.CAData) > 0) {
		c.TLS.Enabled = true
	}
	if !tlsExplicit && c.APIKey != "" {
		c.TLS.Enabled = true
	}
	if (c.TLS.CertPath == "") != (c.TLS.KeyPath == "") {
		return Conn{}, 0, Usagef("--tls-cert-path and --tls-key-path go together: give both for mTLS")
	}

	if ownCluster {
		if c.Origin != "" && c.Origin != "--address" {
			c.Origin = "ignored: " + c.Origin + " (squall starts the cluster: --cluster)"
		} else {
			c.Origin = ""
		}
		c.Address = ""
		c.TLS = TLS{}
	}
	if c.Address == "" {
		if !ownCluster {
			if what := clusterOnlySettings(c, set, lookup); len(what) > 0 {
				return Conn{}, 0, Usagef("%s set but no cluster address: set TEMPORAL_ADDRESS or --address to benchmark your cluster, or unset them (or give --cluster embedded) to use the server squall starts",
					strings.Join(what, ", "))
			}
		}
		// A cluster squall starts speaks plain gRPC on loopback and has
		// one namespace.
		c.TLS = TLS{}
		if c.Namespace == "" {
			c.Namespace = DefaultNamespace
		}
		return c, TargetOwn, nil
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	return c, TargetExternal, nil
}

// clusterOnlySettings names the settings given (anywhere) that point at a
// cluster of the user's, for the refusal when no address came with them.
func clusterOnlySettings(c Conn, set func(string) bool, lookup func(string) string) []string {
	var what []string
	for _, flag := range []string{"api-key", "tls", "tls-cert-path", "tls-ca-path", "tls-server-name", "grpc-meta", "profile", "config-file"} {
		if set(flag) {
			what = append(what, "--"+flag)
		}
	}
	for _, v := range []string{"TEMPORAL_API_KEY", "TEMPORAL_NAMESPACE", "TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH",
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_PROFILE", LegacyAPIKeyEnv} {
		if lookup(v) != "" {
			what = append(what, v)
		}
	}
	if len(what) == 0 && (c.APIKey != "" || c.TLS.Enabled || len(c.GRPCMeta) > 0) {
		what = append(what, "a temporal.toml profile's connection settings")
	}
	return what
}

// ParseGRPCMeta reads --grpc-meta KEY=VALUE pairs. Values are secrets (often
// auth headers): a bad pair is named by its position, never echoed.
func ParseGRPCMeta(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for i, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, Usagef("bad --grpc-meta #%d: want KEY=VALUE (the value is not shown)", i+1)
		}
		out[envconfig.NormalizeGRPCMetaKey(k)] = v
	}
	return out, nil
}

// Describe is the one line that says where a run goes:
// "10.0.0.5:7233, namespace bench (from TEMPORAL_PROFILE prod)". No secrets.
func (c Conn) Describe() string {
	s := fmt.Sprintf("%s, namespace %s", c.Address, c.Namespace)
	var how []string
	if c.TLS.Enabled {
		how = append(how, "TLS")
	}
	if c.APIKey != "" {
		how = append(how, "API key")
	}
	if len(c.GRPCMeta) > 0 {
		how = append(how, "headers "+strings.Join(slices.Sorted(maps.Keys(c.GRPCMeta)), ","))
	}
	if len(how) > 0 {
		s += ", " + strings.Join(how, ", ")
	}
	if c.Origin != "" {
		s += " (from " + c.Origin + ")"
	}
	return s
}

// profile is c as an envconfig profile: envconfig builds the SDK options
// (TLS material, API key, headers) exactly as the Temporal CLI does, and
// writes the file container children read.
func (c Conn) profile() *envconfig.ClientConfigProfile {
	p := &envconfig.ClientConfigProfile{Address: c.Address, Namespace: c.Namespace, APIKey: c.APIKey, GRPCMeta: c.GRPCMeta}
	if !c.TLS.Enabled {
		// Explicitly off: envconfig would turn TLS on for an API key.
		p.TLS = &envconfig.ClientConfigTLS{Disabled: true}
		return p
	}
	t := c.TLS
	p.TLS = &envconfig.ClientConfigTLS{ClientCertPath: t.CertPath, ClientKeyPath: t.KeyPath, ServerCACertPath: t.CAPath,
		ClientCertData: t.CertData, ClientKeyData: t.KeyData, ServerCACertData: t.CAData,
		ServerName: t.ServerName, DisableHostVerification: t.DisableHostVerification}
	return p
}

// reconnect keeps gRPC's reconnect backoff short, so a restarted server is
// picked up within a second or two (the SDK's default caps at 10 s).
var reconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 2 * time.Second,
})

// ClientOptions builds SDK client options for c.
func (c Conn) ClientOptions() (client.Options, error) {
	o, err := c.profile().ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		// envconfig names the file or setting at fault, never a secret.
		return o, Usagef("connection: %v: check the --tls-* flags, TEMPORAL_TLS_* or the profile's tls section", err)
	}
	o.Logger = quietLogger()
	o.MetricsHandler = c.MetricsHandler // nil is the SDK's own no-op default
	o.ConnectionOptions.DialOptions = append(o.ConnectionOptions.DialOptions, reconnect)
	if c.Starts != nil {
		o.ConnectionOptions.DialOptions = append(o.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(c.Starts.interceptor()))
	}
	return o, nil
}

// Dial connects and checks the cluster answers within ConnectTimeout. An
// unreachable cluster is a usage error: the address is the user's input.
func (c Conn) Dial(ctx context.Context) (client.Client, error) {
	if c.Address == "" {
		return nil, Usagef("no cluster address: give --address host:port or set TEMPORAL_ADDRESS")
	}
	o, err := c.ClientOptions()
	if err != nil {
		return nil, err
	}
	timeout := c.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := client.DialContext(dctx, o)
	if err != nil {
		return nil, Usagef("cannot reach Temporal at %s within %s (%v): check the address%s", c.Address, timeout, c.scrub(shortErr(err)), c.originHint())
	}
	// DialContext checks the frontend; also check the namespace exists, which
	// is the other common mistake.
	if _, err := cl.WorkflowService().DescribeNamespace(dctx, describeNS(c.Namespace)); err != nil {
		cl.Close()
		return nil, Usagef("namespace %q on %s: %v: check --namespace/TEMPORAL_NAMESPACE", c.Namespace, c.Address, c.scrub(shortErr(err)))
	}
	return cl, nil
}

func (c Conn) originHint() string {
	if c.Origin == "" || c.Origin == "--address" {
		if c.Standalone {
			return " (--address)"
		}
		return " (--address), or drop it to use the embedded server"
	}
	return " (from " + c.Origin + ")"
}

// scrub removes c's secrets from a message that came from elsewhere (a
// server's error may quote a header back).
func (c Conn) scrub(s string) string {
	for _, secret := range c.secrets() {
		s = strings.ReplaceAll(s, secret, Redacted)
	}
	return s
}

// secrets lists c's secret values (for scrubbing text).
func (c Conn) secrets() []string {
	var out []string
	if c.APIKey != "" {
		out = append(out, c.APIKey)
	}
	if len(c.TLS.KeyData) > 0 {
		out = append(out, string(c.TLS.KeyData))
	}
	for _, v := range c.GRPCMeta {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Redacted stands for a secret in anything squall writes.
const Redacted = "***"

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// ChildEnv is the environment of a child process (a worker) that must
// connect as c does: the parent's environment without any TEMPORAL_* (or
// squall's legacy key) variable, no profile file, and c's settings as the
// TEMPORAL_* variables envconfig reads. Secrets travel here, not in argv,
// which every user of the machine can read.
func (c Conn) ChildEnv(parent []string) []string {
	out := make([]string, 0, len(parent)+12)
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TEMPORAL_") || k == LegacyAPIKeyEnv {
			continue
		}
		out = append(out, kv)
	}
	add := func(k, v string) {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	add("TEMPORAL_CONFIG_FILE", os.DevNull) // only what is set here counts
	add("TEMPORAL_ADDRESS", c.Address)
	add("TEMPORAL_NAMESPACE", c.Namespace)
	add("TEMPORAL_API_KEY", c.APIKey)
	out = append(out, fmt.Sprintf("TEMPORAL_TLS=%t", c.TLS.Enabled))
	if c.TLS.Enabled {
		add("TEMPORAL_TLS_CLIENT_CERT_PATH", c.TLS.CertPath)
		add("TEMPORAL_TLS_CLIENT_KEY_PATH", c.TLS.KeyPath)
		add("TEMPORAL_TLS_SERVER_CA_CERT_PATH", c.TLS.CAPath)
		add("TEMPORAL_TLS_CLIENT_CERT_DATA", string(c.TLS.CertData))
		add("TEMPORAL_TLS_CLIENT_KEY_DATA", string(c.TLS.KeyData))
		add("TEMPORAL_TLS_SERVER_CA_CERT_DATA", string(c.TLS.CAData))
		add("TEMPORAL_TLS_SERVER_NAME", c.TLS.ServerName)
		if c.TLS.DisableHostVerification {
			out = append(out, "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.GRPCMeta)) {
		add("TEMPORAL_GRPC_META_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_")), c.GRPCMeta[k])
	}
	return out
}

// ChildProfile is the name of the profile ProfileTOML writes.
const ChildProfile = "squall"

// ProfileTOML renders c as a temporal.toml with one profile (ChildProfile),
// for children that cannot take secrets through their environment because
// it is on show (a container's environment is in `docker inspect`). TLS
// files are inlined: the child may not see this host's paths.
func (c Conn) ProfileTOML() ([]byte, error) {
	inline := c
	var err error
	read := func(path string, into *[]byte) {
		if path != "" && err == nil {
			*into, err = os.ReadFile(path)
		}
	}
	if inline.TLS.Enabled {
		read(c.TLS.CertPath, &inline.TLS.CertData)
		read(c.TLS.KeyPath, &inline.TLS.KeyData)
		read(c.TLS.CAPath, &inline.TLS.CAData)
		if err != nil {
			return nil, Usagef("TLS files for container children: %v", err)
		}
		inline.TLS.CertPath, inline.TLS.KeyPath, inline.TLS.CAPath = "", "", ""
	}
	conf := envconfig.ClientConfig{Profiles: map[string]*envconfig.ClientConfigProfile{ChildProfile: inline.profile()}}
	return conf.ToTOML(envconfig.ClientConfigToTOMLOptions{})
}
