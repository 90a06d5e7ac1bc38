package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every way of writing a secret flag on the command line is redacted in
// what reports keep; nothing else changes.
func TestRedactArgs(t *testing.T) {
	cmd := newRunCmd()
	fs := cmd.Flags()
	in := []string{"run", "--scenario", "noop", "--api-key", "K1", "--api-key=K2",
		"--grpc-meta", "authorization=Bearer H1", "--grpc-meta=x-tenant=H2",
		"--dsn", "postgres://u:P1@db:5432/t", "--dsn=postgres://u:P2@db/t?sslmode=disable",
		"--tls", "--namespace", "ns", "-n", "ns2", "--tls-key", "/k.pem", "--option", "api-key=visible"}
	out := redactArgs(fs, in)
	joined := strings.Join(out, " ")
	for _, secret := range []string{"K1", "K2", "H1", "H2", "P1", "P2"} {
		if strings.Contains(joined, secret) {
			t.Errorf("secret %s left in %q", secret, joined)
		}
	}
	for _, kept := range []string{"--api-key ***", "--api-key=***", "authorization=***", "--grpc-meta=x-tenant=***",
		"postgres://u:***@db:5432/t", "--dsn=postgres://u:***@db/t?sslmode=disable", "--tls --namespace ns -n ns2",
		"--tls-key /k.pem", "--option api-key=visible"} {
		if !strings.Contains(joined, kept) {
			t.Errorf("want %q in %q", kept, joined)
		}
	}
	if len(out) != len(in) || !slices.Equal(in[:3], out[:3]) {
		t.Errorf("shape changed: %q", out)
	}
}

// Help never shows a secret's value from the environment.
func TestHelpShowsNoEnvironmentSecret(t *testing.T) {
	t.Setenv("TEMPORAL_API_KEY", "help-leak-1")
	t.Setenv("SQUALL_API_KEY", "help-leak-2")
	t.Setenv("SQUALL_DSN", "postgres://u:help-leak-3@h/d")
	for _, cmd := range []*cobra.Command{newRunCmd(), newCapacityCmd(), newWorkerCmd(), newServerCmd()} {
		var b strings.Builder
		cmd.SetOut(&b)
		cmd.SetErr(&b)
		_ = cmd.Help()
		if strings.Contains(b.String(), "help-leak") {
			t.Errorf("%s --help shows a secret:\n%s", cmd.Name(), b.String())
		}
	}
}
