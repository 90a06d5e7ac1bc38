package cli

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/squallbench/squall/cluster"
)

// addConnFlags declares how to reach a cluster, under the Temporal CLI's
// flag names (run, capacity, worker). What a flag leaves out comes from the
// TEMPORAL_* environment and the temporal.toml profile (resolveConn).
func addConnFlags(f *pflag.FlagSet, c *cluster.ConnFlags, addressHelp string) {
	f.StringVar(&c.Address, "address", "", addressHelp+" (env TEMPORAL_ADDRESS)")
	f.StringVarP(&c.Namespace, "namespace", "n", "", "Temporal namespace (env TEMPORAL_NAMESPACE; default \""+cluster.DefaultNamespace+"\")")
	f.StringVar(&c.APIKey, "api-key", "", "API key; prefer env TEMPORAL_API_KEY, which a process list does not show (implies --tls)")
	f.BoolVar(&c.TLS, "tls", false, "connect with TLS (env TEMPORAL_TLS; --tls=false turns it off)")
	f.StringVar(&c.TLSCertPath, "tls-cert-path", "", "client certificate file for mTLS, with --tls-key-path (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
	f.StringVar(&c.TLSKeyPath, "tls-key-path", "", "client private key file for mTLS (env TEMPORAL_TLS_CLIENT_KEY_PATH)")
	f.StringVar(&c.TLSCAPath, "tls-ca-path", "", "CA bundle that verifies the server's certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH; default: system roots)")
	f.StringVar(&c.TLSServerName, "tls-server-name", "", "server name to verify, SNI (env TEMPORAL_TLS_SERVER_NAME)")
	f.BoolVar(&c.TLSDisableHostVerification, "tls-disable-host-verification", false, "do not verify the server's host name (env TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)")
	f.StringArrayVar(&c.GRPCMeta, "grpc-meta", nil, "gRPC header KEY=VALUE on every call, repeatable (env TEMPORAL_GRPC_META_KEY; values are secrets, never written)")
	f.StringVar(&c.Profile, "profile", "", "profile of the temporal.toml file (env TEMPORAL_PROFILE; default \"default\")")
	f.StringVar(&c.ConfigFile, "config-file", "", "temporal.toml file with profiles (env TEMPORAL_CONFIG_FILE; default: the Temporal CLI's)")
	f.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "how long to wait for the cluster to answer")
	markSecret(f, "all", "api-key")
	markSecret(f, "kv", "grpc-meta")
	// squall's earlier names keep working, unlisted.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if alias, ok := connFlagAliases[name]; ok {
			name = alias
		}
		return pflag.NormalizedName(name)
	})
}

// connFlagAliases map squall's earlier flag names to the Temporal CLI's.
var connFlagAliases = map[string]string{"tls-cert": "tls-cert-path", "tls-key": "tls-key-path", "tls-ca": "tls-ca-path"}

// resolveConn completes the connection flags of cmd with the environment
// and the profile. ownCluster: the user asked squall to start the cluster.
func resolveConn(cmd *cobra.Command, c cluster.ConnFlags, ownCluster bool) (cluster.Conn, cluster.Target, error) {
	c.Set = func(name string) bool { return cmd.Flags().Changed(name) }
	return cluster.ResolveConn(c, nil, ownCluster)
}
