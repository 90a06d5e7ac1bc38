package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

// scheduled is one fault as given, and where (for messages); item: the
// --fault-kinds item a fault placed by --fault-every came from.
type scheduled struct{ raw, where, item string }

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

// Fault orders of --fault-every.
const (
	FaultOrderCycle  = "cycle"  // the kinds in the order given, over and over
	FaultOrderRandom = "random" // each fault's kind drawn with --fault-seed
)

// DefaultFaultFor is how long a repeating fault lasts when neither its kind
// item nor --fault-for says: short beside the usual gap of minutes, long
// enough for timeouts and retries to show.
const DefaultFaultFor = 30 * time.Second

// repeatingFaults expands --fault-every into the schedule it stands for:
// a fault every FaultEvery through the load, its kind taken from
// FaultKinds in turn or at random (seeded, so a resumed run or a rerun
// gets the same schedule). Each is a --fault line of its own, so it is
// checked, reported and resumed like one.
func repeatingFaults(f Flags) ([]scheduled, error) {
	switch {
	case f.FaultEvery == 0 && len(f.FaultKinds) == 0:
		return nil, nil
	case f.FaultEvery < 0:
		return nil, fmt.Errorf("bad --fault-every %s: want a positive duration, e.g. 10m", f.FaultEvery)
	case f.FaultEvery == 0:
		return nil, fmt.Errorf("--fault-kinds needs --fault-every, e.g. --fault-every 10m: how often a fault begins")
	case len(f.FaultKinds) == 0:
		return nil, fmt.Errorf("--fault-every %s needs --fault-kinds, e.g. --fault-kinds worker-kill,server-pause ('squall list faults')", f.FaultEvery)
	case f.Duration <= 0:
		return nil, fmt.Errorf("--fault-every %s spreads faults over the load's --duration: give one", f.FaultEvery)
	case f.FaultEvery >= f.Duration:
		return nil, fmt.Errorf("--fault-every %s is not shorter than --duration %s: no fault would begin within the load", f.FaultEvery, f.Duration)
	case f.FaultFor < 0:
		return nil, fmt.Errorf("bad --fault-for %s: want a positive duration", f.FaultFor)
	}
	order := f.FaultOrder
	if order == "" {
		order = FaultOrderCycle
	}
	if order != FaultOrderCycle && order != FaultOrderRandom {
		return nil, fmt.Errorf("bad --fault-order %q: want %s or %s", f.FaultOrder, FaultOrderCycle, FaultOrderRandom)
	}
	length := f.FaultFor
	if length == 0 {
		length = min(DefaultFaultFor, f.FaultEvery/2)
	}
	for _, k := range f.FaultKinds {
		if strings.Contains(" "+k, " at=") {
			return nil, fmt.Errorf("--fault-kinds %q: leave out at=, --fault-every places each fault", k)
		}
	}
	rng := rand.New(rand.NewPCG(f.FaultSeed, 0x5eed))
	var out []scheduled
	for i := 1; time.Duration(i)*f.FaultEvery < f.Duration; i++ {
		item := f.FaultKinds[(i-1)%len(f.FaultKinds)]
		if order == FaultOrderRandom {
			item = f.FaultKinds[rng.IntN(len(f.FaultKinds))]
		}
		fields := strings.Fields(item)
		if len(fields) == 0 {
			return nil, fmt.Errorf("--fault-kinds has an empty kind: want e.g. worker-kill,server-pause")
		}
		raw := fields[0] + " at=" + (time.Duration(i) * f.FaultEvery).String()
		if !strings.Contains(" "+item, " for=") {
			raw += " for=" + length.String()
		}
		if len(fields) > 1 {
			raw += " " + strings.Join(fields[1:], " ")
		}
		out = append(out, scheduled{raw: raw, where: fmt.Sprintf("--fault-every, kind %q: ", item), item: item})
	}
	return out, nil
}

// validateFaults parses every fault of --fault-file, --fault and --fault-every and checks
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
	repeating, err := repeatingFaults(f)
	if err != nil {
		bad("%v", err)
	}
	all = append(all, repeating...)
	var specs []faults.Spec
	reported := map[string]bool{} // --fault-kinds items with a problem said once
	for _, sc := range all {
		raw := sc.raw
		bad := func(format string, a ...any) {
			if sc.item != "" {
				if reported[sc.item] {
					return // its every repetition has it: once is enough
				}
				reported[sc.item] = true
			}
			bad("%s"+format, append([]any{sc.where}, a...)...)
		}
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
		if sc.item != "" && s.For >= f.FaultEvery {
			bad("--fault %q: for=%s is not shorter than --fault-every %s: each fault would still be on when the next begins", raw, s.For, f.FaultEvery)
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
