package cli

import (
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/squallbench/squall/cluster"
)

// APIKeyEnv carries the API key to child processes, so that it never shows
// in a process list.
const APIKeyEnv = "SQUALL_API_KEY"

// addConnFlags declares how to reach an existing cluster (run, worker).
func addConnFlags(f *pflag.FlagSet, c *cluster.Conn, addressHelp string) {
	f.StringVar(&c.Address, "address", "", addressHelp)
	f.StringVar(&c.Namespace, "namespace", cluster.DefaultNamespace, "Temporal namespace")
	f.BoolVar(&c.TLS, "tls", false, "connect with TLS (system roots), no client certificate")
	f.StringVar(&c.TLSCert, "tls-cert", "", "client certificate file for mTLS (with --tls-key)")
	f.StringVar(&c.TLSKey, "tls-key", "", "client private key file for mTLS")
	f.StringVar(&c.TLSCA, "tls-ca", "", "CA bundle to verify the server's certificate")
	f.StringVar(&c.TLSServerName, "tls-server-name", "", "server name to verify (SNI)")
	f.StringVar(&c.APIKey, "api-key", os.Getenv(APIKeyEnv), "API key (default from $"+APIKeyEnv+")")
	f.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "how long to wait for the cluster to answer")
}
