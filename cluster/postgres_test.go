//go:build !squall_lean

package cluster

import (
	"strings"
	"testing"
)

func TestParsePostgresDSN(t *testing.T) {
	d, err := parsePostgresDSN("postgres://bench:s3cret@db.internal/temporal?sslmode=require")
	if err != nil {
		t.Fatal(err)
	}
	if d.host != "db.internal" || d.port != "5432" || d.user != "bench" || d.pass != "s3cret" || d.db != "temporal" ||
		d.visibilityDB() != "temporal_visibility" || d.attrs["sslmode"] != "require" {
		t.Errorf("parsed %+v", d)
	}
	cfg := d.sqlConfig(d.db)
	if cfg.PluginName != "postgres12_pgx" || cfg.ConnectAddr != "db.internal:5432" {
		t.Errorf("sql config %+v", cfg)
	}
	d, err = parsePostgresDSN("postgresql://u@h:6000")
	if err != nil || d.db != "temporal" || d.attrs["sslmode"] != "disable" || d.port != "6000" {
		t.Errorf("defaults: %+v %v", d, err)
	}
	for _, bad := range []string{"", "mysql://u:p@h/db", "postgres:///db", "postgres://h/db", `postgres://u@h/a"b`} {
		if _, err := parsePostgresDSN(bad); err == nil || !IsUsageErr(err) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
	_, err = parsePostgresDSN("mysql://u:hunter2@h/db")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("message %v must not show the password", err)
	}
}
