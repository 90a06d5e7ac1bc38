package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/health"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// validateHealth checks the --health, --replay-sample and
// --export-histories flags.
func validateHealth(f Flags, bad func(string, ...any)) {
	_, problems := f.Health.Parse()
	for _, p := range problems {
		bad("%s", p)
	}
}

// healthDetail is what the checks found, kept in the report's details
// beside the invariants that judge it.
type healthDetail struct {
	Logs   *health.LogResult    `json:"logs,omitempty"`
	Replay *health.ReplayResult `json:"replay,omitempty"`
	Stuck  *health.StuckResult  `json:"stuck,omitempty"`
	// Exported counts the histories of problem workflows written to
	// RUN_DIR/histories.
	Exported int `json:"exported_problem_histories,omitempty"`
}

// serverHealth runs the server-health checks of one entry that began at
// began, and returns their invariants.
func (e *entry) serverHealth(ctx context.Context, began time.Time, res *verify.Result) []scenarios.Invariant {
	p, s, c := e.plan, e.s, e.c
	cfg, _ := p.Health.Parse() // validated with the plan
	var invs []scenarios.Invariant
	var d healthDetail

	// Failed and lost workflows' histories, always: what a human opens
	// first. A lost workflow has none; its journal entry says when it
	// started.
	if len(res.Problems) > 0 && c.client != nil {
		dir := filepath.Join(s.dir, "histories", strings.NewReplacer("/", "_", " ", "_").Replace(p.Entry))
		for _, pr := range res.Problems {
			if h, err := health.History(ctx, c.client, pr.WorkflowID, ""); err == nil && len(h.GetEvents()) > 0 {
				if health.ExportHistory(dir, pr.WorkflowID, "", h) == nil {
					d.Exported++
				}
			}
		}
	}

	// The run's workflows, as visibility finds them: started by this
	// entry (a little slack for the server's clock), on the cluster squall
	// owns; on the user's cluster, only on the task queues the run used.
	query := fmt.Sprintf("StartTime >= '%s'", began.Add(-5*time.Second).UTC().Format(time.RFC3339))
	if !p.Embedded && !p.Container {
		tqs := []string{"'" + s.taskQueue + "'"}
		if tq := p.Options.Display()["task-queue"]; tq != "" && tq != s.taskQueue {
			tqs = append(tqs, "'"+strings.ReplaceAll(tq, "'", "")+"'")
		}
		query += " AND TaskQueue IN (" + strings.Join(tqs, ", ") + ")"
	}

	var checks []string
	if cfg.On(health.CheckLogs) {
		checks = append(checks, "server logs")
	}
	if cfg.On(health.CheckReplay) && cfg.ReplaySample > 0 {
		checks = append(checks, fmt.Sprintf("replay of up to %d workflows per type", cfg.ReplaySample))
	}
	if cfg.On(health.CheckStuck) {
		checks = append(checks, "stuck work")
	}
	if len(checks) > 0 {
		fmt.Fprintf(s.con.Out, "checking server health: %s...\n", strings.Join(checks, ", "))
	}

	if cfg.On(health.CheckLogs) && (p.Embedded || p.Container) {
		lr := s.logScan.Scan(health.RunDirSources(s.dir))
		for _, x := range c.unexpectedExits() {
			if !x.At.Before(began) {
				lr.Exits = append(lr.Exits, x)
			}
		}
		d.Logs = lr
		invs = append(invs, lr.Invariant(cfg.Mode(health.CheckLogs)))
	}
	if cfg.On(health.CheckReplay) && cfg.ReplaySample > 0 && c.client != nil {
		rr := health.Replay(ctx, c.client, health.ReplayOptions{Namespace: c.conn.Namespace, Query: query,
			Sample: cfg.ReplaySample, Register: scenarios.RegisterAll, DataConverter: scenarios.ReplayDataConverter(), ExportDir: cfg.ExportDir})
		d.Replay = rr
		invs = append(invs, rr.Invariant(cfg.Mode(health.CheckReplay)))
	}
	if cfg.On(health.CheckStuck) && c.client != nil {
		sr := health.Stuck(ctx, c.client, health.StuckOptions{Namespace: c.conn.Namespace, Query: query})
		d.Stuck = sr
		invs = append(invs, sr.Invariant(cfg.Mode(health.CheckStuck)))
	}
	if d.Logs != nil || d.Replay != nil || d.Stuck != nil || d.Exported > 0 {
		e.write(bench.Record{Kind: bench.KindDetail}, map[string]any{"server_health": d})
	}
	return invs
}

// unexpectedExits are the exits of the server processes squall started
// that squall did not ask for.
func (c *clusterHandle) unexpectedExits() []health.Exit {
	var out []health.Exit
	add := func(ch *cluster.Child) {
		if ch == nil {
			return
		}
		for _, x := range ch.UnexpectedExits() {
			out = append(out, health.Exit{Process: ch.Name, At: x.At, Reason: x.Reason})
		}
	}
	add(c.server)
	if c.topo != nil {
		for _, n := range c.topo.Nodes() {
			for _, x := range n.UnexpectedExits() {
				out = append(out, health.Exit{Process: n.Name, At: x.At, Reason: x.Reason})
			}
		}
	}
	return out
}
