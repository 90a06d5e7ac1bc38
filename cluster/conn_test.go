package cluster

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/squallbench/squall/exitcode"
)

// fakeEnv is an environment for envconfig that is not the test process's.
type fakeEnv map[string]string

func (e fakeEnv) Environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

func (e fakeEnv) LookupEnv(k string) (string, bool) { v, ok := e[k]; return v, ok }

var _ envconfig.EnvLookup = fakeEnv(nil)

const profiles = `
[profile.default]
address = "default.example:7233"
namespace = "from-default"

[profile.prod-east]
address = "10.0.0.5:7233"
namespace = "bench"
api_key = "profile-key"
[profile.prod-east.grpc_meta]
x-route = "east"

[profile.plain]
address = "10.0.0.6:7233"
api_key = "k"
[profile.plain.tls]
disabled = true
`

func writeProfiles(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(p, []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func flagsSet(names ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
}

// Precedence: flag > environment > profile > default, and the origin of
// the address says which one gave it.
func TestResolveConnPrecedence(t *testing.T) {
	file := writeProfiles(t)
	cases := []struct {
		name       string
		flags      ConnFlags
		env        fakeEnv
		wantAddr   string
		wantNS     string
		wantOrigin string
		wantKey    string
		wantTLS    bool
		wantTarget Target
	}{
		{name: "nothing: squall's own cluster", env: fakeEnv{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "none.toml")},
			wantNS: DefaultNamespace, wantTarget: TargetOwn},
		{name: "default profile of the file", env: fakeEnv{"TEMPORAL_CONFIG_FILE": file},
			wantAddr: "default.example:7233", wantNS: "from-default", wantOrigin: "profile default (" + file + ")", wantTarget: TargetExternal},
		{name: "profile from TEMPORAL_PROFILE; API key implies TLS", env: fakeEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod-east"},
			wantAddr: "10.0.0.5:7233", wantNS: "bench", wantKey: "profile-key", wantTLS: true,
			wantOrigin: "profile prod-east from TEMPORAL_PROFILE (" + file + ")", wantTarget: TargetExternal},
		{name: "environment over profile", env: fakeEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod-east",
			"TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_API_KEY": "env-key"},
			wantAddr: "env.example:7233", wantNS: "bench", wantKey: "env-key", wantTLS: true, wantOrigin: "TEMPORAL_ADDRESS", wantTarget: TargetExternal},
		{name: "flags over environment", flags: ConnFlags{Address: "flag.example:7233", Namespace: "ns", APIKey: "flag-key",
			Set: flagsSet("address", "namespace", "api-key")},
			env:      fakeEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_API_KEY": "env-key"},
			wantAddr: "flag.example:7233", wantNS: "ns", wantKey: "flag-key", wantTLS: true, wantOrigin: "--address", wantTarget: TargetExternal},
		{name: "--tls=false beats the API key's implied TLS", flags: ConnFlags{TLS: false, Set: flagsSet("tls")},
			env:      fakeEnv{"TEMPORAL_ADDRESS": "a:1", "TEMPORAL_API_KEY": "k", "TEMPORAL_CONFIG_FILE": file},
			wantAddr: "a:1", wantNS: "from-default", wantKey: "k", wantTLS: false, wantOrigin: "TEMPORAL_ADDRESS", wantTarget: TargetExternal},
		{name: "a profile's tls.disabled beats the API key too", flags: ConnFlags{Profile: "plain"},
			env:      fakeEnv{"TEMPORAL_CONFIG_FILE": file},
			wantAddr: "10.0.0.6:7233", wantNS: DefaultNamespace, wantKey: "k", wantTLS: false,
			wantOrigin: "profile plain from --profile (" + file + ")", wantTarget: TargetExternal},
		{name: "legacy SQUALL_API_KEY still read", flags: ConnFlags{Address: "a:1", Set: flagsSet("address")},
			env:      fakeEnv{LegacyAPIKeyEnv: "legacy", "TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "none.toml")},
			wantAddr: "a:1", wantNS: DefaultNamespace, wantKey: "legacy", wantTLS: true, wantOrigin: "--address", wantTarget: TargetExternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, target, err := ResolveConn(tc.flags, tc.env, false)
			if err != nil {
				t.Fatal(err)
			}
			if c.Address != tc.wantAddr || c.Namespace != tc.wantNS || c.APIKey != tc.wantKey || c.TLS.Enabled != tc.wantTLS ||
				c.Origin != tc.wantOrigin || target != tc.wantTarget {
				t.Errorf("got addr %q ns %q key %q tls %v origin %q target %v; want %q %q %q %v %q %v",
					c.Address, c.Namespace, c.APIKey, c.TLS.Enabled, c.Origin, target,
					tc.wantAddr, tc.wantNS, tc.wantKey, tc.wantTLS, tc.wantOrigin, tc.wantTarget)
			}
		})
	}
}

func TestResolveConnHeaders(t *testing.T) {
	file := writeProfiles(t)
	c, _, err := ResolveConn(ConnFlags{Profile: "prod-east", GRPCMeta: []string{"X_Tenant=t1"}},
		fakeEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_GRPC_META_X_ROUTE": "west"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"x-route": "west", "x-tenant": "t1"}
	if !reflect.DeepEqual(c.GRPCMeta, want) {
		t.Errorf("headers %v, want %v (env over profile, flag added)", c.GRPCMeta, want)
	}
}

// A cluster configured in the environment is never silently replaced by
// the embedded server, and --cluster makes squall's own cluster win.
func TestResolveConnNoSilentFallback(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none.toml")
	_, _, err := ResolveConn(ConnFlags{}, fakeEnv{"TEMPORAL_API_KEY": "k", "TEMPORAL_CONFIG_FILE": none}, false)
	if !exitcode.IsUsage(err) || !strings.Contains(err.Error(), "TEMPORAL_API_KEY set but no cluster address") || strings.Contains(err.Error(), "k\"") {
		t.Errorf("API key without address: %v", err)
	}
	c, target, err := ResolveConn(ConnFlags{}, fakeEnv{"TEMPORAL_ADDRESS": "a:1", "TEMPORAL_API_KEY": "k", "TEMPORAL_CONFIG_FILE": none}, true)
	if err != nil || target != TargetOwn || c.Address != "" || c.TLS.Enabled {
		t.Fatalf("--cluster with TEMPORAL_ADDRESS: %+v %v %v", c, target, err)
	}
	if !strings.Contains(c.Origin, "ignored: TEMPORAL_ADDRESS") {
		t.Errorf("origin %q should say the environment's address is ignored", c.Origin)
	}
	if _, _, err := ResolveConn(ConnFlags{Profile: "nope"}, fakeEnv{"TEMPORAL_CONFIG_FILE": writeProfiles(t)}, false); !exitcode.IsUsage(err) {
		t.Errorf("unknown profile: %v", err)
	}
	if _, _, err := ResolveConn(ConnFlags{ConfigFile: none}, fakeEnv{}, false); !exitcode.IsUsage(err) {
		t.Errorf("missing --config-file: %v", err)
	}
	_, _, err = ResolveConn(ConnFlags{Address: "a:1", GRPCMeta: []string{"s3cr3t-no-equals"}, Set: flagsSet("address")}, fakeEnv{"TEMPORAL_CONFIG_FILE": none}, false)
	if !exitcode.IsUsage(err) || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a bad --grpc-meta must be refused without echoing it: %v", err)
	}
}

// A child started with ChildEnv resolves to exactly the parent's
// connection, whatever the parent's own environment held; a container's
// profile file does too.
func TestChildrenConnectAsTheParent(t *testing.T) {
	parent := Conn{Address: "10.0.0.5:7233", Namespace: "bench", APIKey: "secret-key", GRPCMeta: map[string]string{"x-auth": "secret-h"},
		TLS: TLS{Enabled: true, ServerName: "temporal.example", CAData: []byte("ca")}}
	inherited := []string{"PATH=/bin", "TEMPORAL_ADDRESS=elsewhere:1", "TEMPORAL_PROFILE=other", "TEMPORAL_GRPC_META_X_OTHER=1", LegacyAPIKeyEnv + "=old"}
	env := fakeEnv{}
	for _, kv := range parent.ChildEnv(inherited) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["PATH"] != "/bin" {
		t.Error("the rest of the environment must be inherited")
	}
	got, target, err := ResolveConn(ConnFlags{}, env, false)
	if err != nil || target != TargetExternal {
		t.Fatal(target, err)
	}
	got.Origin = ""
	if !reflect.DeepEqual(got, parent) {
		t.Errorf("child resolves to %+v, want %+v", got, parent)
	}

	toml, err := parent.ProfileTOML()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "child.toml")
	if err := os.WriteFile(file, toml, 0o600); err != nil {
		t.Fatal(err)
	}
	got, _, err = ResolveConn(ConnFlags{}, fakeEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": ChildProfile}, false)
	if err != nil {
		t.Fatal(err)
	}
	got.Origin = ""
	if !reflect.DeepEqual(got, parent) {
		t.Errorf("container child resolves to %+v, want %+v", got, parent)
	}

	// Plain gRPC stays plain in the child although an API key is set.
	plain := Conn{Address: "a:1", Namespace: "default", APIKey: "k"}
	env = fakeEnv{}
	for _, kv := range plain.ChildEnv(nil) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if got, _, _ := ResolveConn(ConnFlags{}, env, false); got.TLS.Enabled {
		t.Error("a child must not turn TLS on that the parent had off")
	}
}

func TestDescribeAndScrubShowNoSecret(t *testing.T) {
	c := Conn{Address: "a:1", Namespace: "ns", APIKey: "sekrit", GRPCMeta: map[string]string{"x-auth": "hdr-secret"}, TLS: TLS{Enabled: true}, Origin: "TEMPORAL_ADDRESS"}
	d := c.Describe()
	if strings.Contains(d, "sekrit") || strings.Contains(d, "hdr-secret") || !strings.Contains(d, "API key") || !strings.Contains(d, "x-auth") {
		t.Errorf("Describe: %s", d)
	}
	if s := c.scrub("rpc error: bad token sekrit for hdr-secret"); strings.Contains(s, "sekrit") || strings.Contains(s, "hdr-secret") {
		t.Errorf("scrub: %s", s)
	}
}
