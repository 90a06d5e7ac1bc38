package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Conn says how to reach a cluster: the embedded one, a container, or an
// existing cluster given with --address.
type Conn struct {
	Address        string
	Namespace      string
	TLSCert        string // client certificate (mTLS)
	TLSKey         string
	TLSCA          string // CA bundle to verify the server
	TLSServerName  string
	TLS            bool // TLS with system roots, no client certificate
	APIKey         string
	ConnectTimeout time.Duration
	// Starts, when set, counts the workflows started through this
	// connection (the driver's), for the harness's journal check.
	Starts *StartCounter
	// MetricsHandler receives the SDK's metrics (nil: none). Not passed to
	// child processes: each serves its own.
	MetricsHandler client.MetricsHandler
}

// Args renders the connection as flags for child processes (workers).
func (c Conn) Args() []string {
	a := []string{"--address", c.Address, "--namespace", c.Namespace}
	add := func(flag, v string) {
		if v != "" {
			a = append(a, flag, v)
		}
	}
	add("--tls-cert", c.TLSCert)
	add("--tls-key", c.TLSKey)
	add("--tls-ca", c.TLSCA)
	add("--tls-server-name", c.TLSServerName)
	if c.TLS {
		a = append(a, "--tls")
	}
	if c.ConnectTimeout > 0 {
		a = append(a, "--connect-timeout", c.ConnectTimeout.String())
	}
	return a
}

// reconnect keeps gRPC's reconnect backoff short, so a restarted server is
// picked up within a second or two (the SDK's default caps at 10 s).
var reconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 2 * time.Second,
})

// ClientOptions builds SDK client options for c.
func (c Conn) ClientOptions() (client.Options, error) {
	o := client.Options{
		HostPort:  c.Address,
		Namespace: c.Namespace,
		Logger:    quietLogger(),
		// nil is the SDK's own no-op default.
		MetricsHandler: c.MetricsHandler,
		ConnectionOptions: client.ConnectionOptions{
			DialOptions: []grpc.DialOption{reconnect},
		},
	}
	if c.Starts != nil {
		o.ConnectionOptions.DialOptions = append(o.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(c.Starts.interceptor()))
	}
	if c.APIKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return o, err
	}
	o.ConnectionOptions.TLS = tlsCfg
	return o, nil
}

func (c Conn) tlsConfig() (*tls.Config, error) {
	if !c.TLS && c.TLSCert == "" && c.TLSCA == "" && c.TLSServerName == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.TLSServerName, MinVersion: tls.VersionTLS12}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, Usagef("--tls-cert and --tls-key go together: give both for mTLS")
	}
	if c.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, Usagef("cannot load client certificate %s / %s: %v", c.TLSCert, c.TLSKey, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, Usagef("cannot read --tls-ca %s: %v", c.TLSCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, Usagef("--tls-ca %s holds no PEM certificate", c.TLSCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Dial connects and checks the cluster answers within ConnectTimeout. An
// unreachable cluster is a usage error: the address is the user's input.
func (c Conn) Dial(ctx context.Context) (client.Client, error) {
	if c.Address == "" {
		return nil, Usagef("no cluster address: give --address host:port")
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
		return nil, Usagef("cannot reach Temporal at %s within %s (%v): check --address, or drop it to use the embedded server", c.Address, timeout, shortErr(err))
	}
	// DialContext checks the frontend; also check the namespace exists, which
	// is the other common mistake.
	if _, err := cl.WorkflowService().DescribeNamespace(dctx, describeNS(c.Namespace)); err != nil {
		cl.Close()
		return nil, Usagef("namespace %q on %s: %v: check --namespace", c.Namespace, c.Address, shortErr(err))
	}
	return cl, nil
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
