package degradation

import (
	"context"
	"testing"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/fakes"
)

// invariantsFor judges hand-built results as their workflows complete;
// calls lists the requests that really reach each service (by key).
func invariantsFor(t *testing.T, results map[string]Result, primaryCalls, secondaryCalls []string) map[string]scenarios.Invariant {
	t.Helper()
	in := Input{Requests: 2, Breaker: BreakerConfig{FailureThreshold: 5, OpenTimeout: time.Second, HalfOpenSuccesses: 1}}
	tl := newTally(in, "")
	p, err := fakes.Start(fakes.Config{Name: "test.primary." + t.Name(), OnRequest: tl.primaryRequest})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := fakes.Start(fakes.Config{Name: "test.secondary." + t.Name(), OnRequest: tl.secondaryRequest})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, k := range primaryCalls {
		if _, err := fakes.Call(context.Background(), p.URL, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range secondaryCalls {
		if _, err := fakes.Call(context.Background(), s.URL, k); err != nil {
			t.Fatal(err)
		}
	}
	for id, r := range results {
		tl.judge(id, r)
	}
	d := &driver{env: scenarios.Env{Emit: func(string, any) {}}, primary: p, secondary: s, base: map[*fakes.Service]mode{}, in: in, t: tl}
	out := map[string]scenarios.Invariant{}
	for _, inv := range d.Invariants(context.Background()) {
		out[inv.Name] = inv
	}
	return out
}

func TestInvariantsUnreachedCalls(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ok := Answer{Seq: 0, Source: SourcePrimary, At: at, State: Closed, PrimaryTried: true, PrimaryOK: true, PrimaryDone: at}
	// Request 1: the primary call timed out (its worker was killed) and
	// the secondary answered.
	timedOut := Answer{Seq: 1, Source: SourceSecondary, At: at.Add(time.Second), State: Closed, PrimaryTried: true,
		PrimaryTimedOut: true, PrimaryErr: "activity StartToClose timeout", PrimaryDone: at.Add(3 * time.Second)}
	results := map[string]Result{"wf": {Answers: []Answer{ok, timedOut}, Final: Closed}}

	t.Run("timed out before reaching the primary", func(t *testing.T) {
		got := invariantsFor(t, results, []string{"wf/0"}, []string{"wf/1"})
		for _, name := range []string{"answer-source-matches-services", "breaker-blocks-primary"} {
			if !got[name].OK {
				t.Errorf("%s failed: %s", name, got[name].Detail)
			}
		}
	})
	t.Run("a failed call the primary never saw is still caught", func(t *testing.T) {
		r := results["wf"]
		notTimeout := r.Answers[1]
		notTimeout.PrimaryTimedOut, notTimeout.PrimaryErr = false, "503"
		bad := map[string]Result{"wf": {Answers: []Answer{ok, notTimeout}, Final: Closed}}
		got := invariantsFor(t, bad, []string{"wf/0"}, []string{"wf/1"})
		if got["answer-source-matches-services"].OK || got["breaker-blocks-primary"].OK {
			t.Errorf("a 503 without a primary request passed: %+v", got)
		}
	})
	t.Run("a primary answer the primary never gave is caught", func(t *testing.T) {
		got := invariantsFor(t, results, nil, []string{"wf/1"})
		if got["answer-source-matches-services"].OK {
			t.Errorf("passed: %s", got["answer-source-matches-services"].Detail)
		}
	})
}

// A request reaching the primary after its workflow was judged is caught;
// one for a call judged unreached is that call after all.
func TestInvariantsLateRequests(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ok := Answer{Seq: 0, Source: SourcePrimary, At: at, State: Closed, PrimaryTried: true, PrimaryOK: true, PrimaryDone: at}
	timedOut := Answer{Seq: 1, Source: SourceSecondary, At: at.Add(time.Second), State: Closed, PrimaryTried: true,
		PrimaryTimedOut: true, PrimaryErr: "activity StartToClose timeout", PrimaryDone: at.Add(3 * time.Second)}
	in := Input{Requests: 2, Breaker: BreakerConfig{FailureThreshold: 5, OpenTimeout: time.Second, HalfOpenSuccesses: 1}}
	for _, tc := range []struct {
		name, lateKey string
		want          bool
	}{{"the unreached call arrives late", "wf/1", true}, {"a request nobody made arrives", "wf/7", false}} {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTally(in, "")
			tl.primaryRequest(fakes.Entry{At: at.UnixNano(), Key: "wf/0", Status: 200})
			tl.secondaryRequest(fakes.Entry{At: at.UnixNano(), Key: "wf/1", Status: 200})
			tl.judge("wf", Result{Answers: []Answer{ok, timedOut}, Final: Closed})
			tl.primaryRequest(fakes.Entry{At: at.Add(5 * time.Second).UnixNano(), Key: tc.lateKey, Status: 200})
			l := tl.lateRequests()
			if got := breakerBlocksPrimary(tl, l); got.OK != tc.want {
				t.Errorf("breaker-blocks-primary %v, want %v: %s", got.OK, tc.want, got.Detail)
			}
		})
	}
}

// A workflow abandoned by the driver (its iteration failed) does not make
// its later requests late ones.
func TestInvariantsAbandonedWorkflow(t *testing.T) {
	tl := newTally(Input{Requests: 2, Breaker: BreakerConfig{FailureThreshold: 5, OpenTimeout: time.Second, HalfOpenSuccesses: 1}}, "")
	tl.primaryRequest(fakes.Entry{At: 1, Key: "wf/0", Status: 200})
	tl.abandon("wf")
	tl.primaryRequest(fakes.Entry{At: 2, Key: "wf/1", Status: 200})
	if l := tl.lateRequests(); l.primary.Count() != 0 {
		t.Errorf("%d late requests from an abandoned workflow", l.primary.Count())
	}
	if len(tl.prim) != 1 {
		t.Errorf("index holds %d keys", len(tl.prim))
	}
}
