package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/scenarios"
)

// scheduled is one fault as given, and where (for messages).
type scheduled struct{ raw, where string }

// readFaultFile reads a --fault-file schedule.
func readFaultFile(path string) ([]scheduled, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--fault-file: %v", err)
	}
	var out []scheduled
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, scheduled{raw: line, where: fmt.Sprintf("%s:%d: ", path, i+1)})
	}
	return out, nil
}

// validateFaults parses every fault of --fault-file and --fault and checks
// it fits this run.
func validateFaults(f Flags, embedded bool, bad func(string, ...any)) []faults.Spec {
	var all []scheduled
	if f.FaultFile != "" {
		fromFile, err := readFaultFile(f.FaultFile)
		if err != nil {
			bad("%v", err)
		}
		all = fromFile
	}
	for _, raw := range f.Faults {
		all = append(all, scheduled{raw: raw})
	}
	var specs []faults.Spec
	for _, sc := range all {
		raw := sc.raw
		bad := func(format string, a ...any) { bad("%s"+format, append([]any{sc.where}, a...)...) }
		s, err := faults.ParseSpec(raw)
		if err != nil {
			bad("%v", err)
			continue
		}
		switch s.Kind.Needs {
		case faults.NeedEmbedded:
			if !embedded {
				bad("--fault %s needs the embedded server (squall cannot kill, pause or reconfigure a cluster given with --address)", s.Kind.Name)
			}
		case faults.NeedWorkers:
			if f.Workers == 0 {
				bad("--fault %s needs worker processes started by squall (--workers 1 or more)", s.Kind.Name)
			} else if w := s.Params.String("worker"); w != "all" {
				if i, err := strconv.Atoi(w); err != nil || i < 0 || i >= f.Workers {
					bad("--fault %q: worker=%s: want all or an index below --workers %d", raw, w, f.Workers)
				}
			}
		}
		if f.Duration > 0 && s.At >= f.Duration {
			bad("--fault %q: at=%s is not within the load (--duration %s)", raw, s.At, f.Duration)
		}
		specs = append(specs, s)
	}
	return specs
}

func needs(specs []faults.Spec, n faults.Need) bool {
	return slices.ContainsFunc(specs, func(s faults.Spec) bool { return s.Kind.Needs == n })
}

// faultEnv is what p's schedule acts on, on this cluster.
func (c *clusterHandle) faultEnv(p *Plan, driver scenarios.Driver) (*faults.Env, error) {
	env := &faults.Env{
		Server:   c.server,
		Topology: c.topo,
		Workers:  c.workers,
		Proxy:    c.proxy,
		Restart: func(ctx context.Context, c *cluster.Child) error {
			_, err := c.Start(ctx, 90*time.Second)
			return err
		},
		Persistence: c.setPersistenceFaults,
	}
	c.addContainers(env)
	if ap, ok := driver.(scenarios.APIProvider); ok {
		env.APIs = ap.APIs()
	}
	if needs(p.Faults, faults.NeedFakeService) && len(env.APIs) == 0 {
		return nil, cluster.Usagef("api faults need a scenario with fake external services; %s has none", p.Scenario.Name)
	}
	return env, nil
}

// setPersistenceFaults switches the embedded server's datastore faults: at
// run time over its control port, or — for ExecuteAndTimeout, which exists
// only in the server's static config — by restarting it with the rules
// (and without them, to heal).
func (c *clusterHandle) setPersistenceFaults(ctx context.Context, rules []cluster.PersistenceRule) error {
	static := slices.ContainsFunc(rules, func(x cluster.PersistenceRule) bool { return x.Error == "ExecuteAndTimeout" })
	if static || c.staticFaults {
		o := c.serverOpts
		o.PersistenceFaults = rules
		// A server failing its writes can take long to shut down cleanly;
		// SQLite in WAL mode survives a kill (server-kill proves it).
		if err := c.server.Stop(5 * time.Second); err != nil {
			return fmt.Errorf("stop server: %w", err)
		}
		c.server.Args = o.Args()
		if _, err := c.server.Start(ctx, 90*time.Second); err != nil {
			return fmt.Errorf("restart server: %w", err)
		}
		c.staticFaults = static
		return nil
	}
	if rules == nil {
		rules = []cluster.PersistenceRule{}
	}
	body, _ := json.Marshal(rules)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut,
		fmt.Sprintf("http://127.0.0.1:%d/persistence-faults", c.serverOpts.ControlPort), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("server control port: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		var b strings.Builder
		_, _ = fmt.Fprintf(&b, "server refused persistence faults: %s", resp.Status)
		return fmt.Errorf("%s", b.String())
	}
	return nil
}

// faultStream writes an entry's fault windows into the result stream and
// tells the user.
type faultStream struct{ e *entry }

// Injecting starts recording the work the window holds (bench.Recorder.Hold).
func (s faultStream) Injecting(w faults.Window) { s.e.rec.Hold(w.Spec, w.InjectedAt) }

func (s faultStream) Injected(w faults.Window) {
	s.e.write(bench.Record{Time: w.InjectedAt, Kind: bench.KindFaultInject}, w)
	msg := "injected"
	if w.Error != "" {
		msg = "inject failed: " + w.Error
	}
	fmt.Fprintf(s.e.s.con.Out, "\nfault %s: %s\n", w.Spec, msg)
}

func (s faultStream) Healed(w faults.Window) {
	if !w.HealedAt.IsZero() {
		s.e.rec.Release(w.Spec, w.HealedAt)
	}
	s.e.write(bench.Record{Kind: bench.KindFaultHeal}, w)
	msg := "healed"
	switch {
	case w.Skipped != "":
		msg = "skipped: " + w.Skipped
	case w.Error != "":
		msg = "error: " + w.Error
	}
	fmt.Fprintf(s.e.s.con.Out, "\nfault %s: %s\n", w.Spec, msg)
}
