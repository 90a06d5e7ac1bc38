//go:build !squall_lean

package cluster

import (
	"fmt"
	"net"
	"time"

	"go.temporal.io/server/common/config"
	tlog "go.temporal.io/server/common/log"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	toolschema "go.temporal.io/server/tools/common/schema"
	toolsql "go.temporal.io/server/tools/sql"
)

func (d *postgresDSN) sqlConfig(db string) *config.SQL {
	attrs := map[string]string{}
	for k, v := range d.attrs {
		attrs[k] = v
	}
	return &config.SQL{
		PluginName:        pgplugin.PluginNamePGX,
		DatabaseName:      db,
		ConnectAddr:       net.JoinHostPort(d.host, d.port),
		ConnectProtocol:   "tcp",
		User:              d.user,
		Password:          d.pass,
		ConnectAttributes: attrs,
		// Each history shard and service keeps connections of its own; the
		// server's defaults suit one Postgres shared by a few servers.
		MaxConns:        20,
		MaxIdleConns:    20,
		MaxConnLifetime: time.Hour,
	}
}

// postgresSchemas are the server's own embedded schema directories for
// v1.32.2, applied with its own schema tool: version tables first, then
// every versioned step up to the newest. Running it again on an up-to-date
// database does nothing, so a restart keeps the data.
var postgresSchemas = []struct{ name, which string }{
	{"postgresql/v12/temporal", "main"},
	{"postgresql/v12/visibility", "visibility"},
}

func (d *postgresDSN) setupSchemas(logger tlog.Logger) error {
	for i, s := range postgresSchemas {
		db := d.db
		if i == 1 {
			db = d.visibilityDB()
		}
		if err := applySchema(d.sqlConfig(db), s.name, logger); err != nil {
			return fmt.Errorf("%s schema in database %s: %w", s.which, db, err)
		}
	}
	return nil
}

func applySchema(cfg *config.SQL, schemaName string, logger tlog.Logger) error {
	conn, err := toolsql.NewConnection(cfg, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ReadSchemaVersion(); err != nil {
		// No version table yet: a fresh database.
		setup := toolschema.NewSetupSchemaTask(conn, &toolschema.SetupConfig{InitialVersion: "0.0"}, logger)
		if err := setup.Run(); err != nil {
			return fmt.Errorf("set up version tables: %w", err)
		}
	}
	return toolschema.NewUpdateSchemaTask(conn, &toolschema.UpdateConfig{DBName: cfg.DatabaseName, SchemaName: schemaName}, logger).Run()
}
