//go:build !squall_lean

package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	p "go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/serialization"
	sqlstore "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"
)

// checkShardCount compares the requested shard count with the one an
// existing database was created with. The server itself would only log a
// warning and quietly use the stored count, so a run would measure a
// different cluster than the one asked for.
func checkShardCount(ctx context.Context, cfg *config.SQL, cluster string, want int32, where string) error {
	db, err := sqlstore.NewSQLDB(sqlplugin.DbKindMain, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("open %s: %w", where, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	row, err := db.GetClusterMetadata(ctx, &sqlplugin.ClusterMetadataFilter{ClusterName: cluster})
	if errors.Is(err, sql.ErrNoRows) {
		return nil // schema present, server never started on it
	}
	if err != nil {
		return fmt.Errorf("read cluster metadata in %s: %w", where, err)
	}
	cm, err := serialization.NewSerializer().DeserializeClusterMetadata(p.NewDataBlob(row.Data, row.DataEncoding))
	if err != nil {
		return fmt.Errorf("decode cluster metadata in %s: %w", where, err)
	}
	if have := cm.GetHistoryShardCount(); have != want {
		return Usagef("%s was created with %d history shard(s); --shards %d cannot change that: use --shards %d, or a new database", where, have, want, have)
	}
	return nil
}
