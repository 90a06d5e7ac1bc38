package metrics

import (
	"compress/gzip"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// The two scrapes in testdata were taken 5 s apart from the embedded
// server (squall run --scenario noop --rate 10/s --server-metrics-port),
// during the load.
func captured(t testing.TB, name string) Families {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := ParseText(zr)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func BenchmarkParseServerScrape(b *testing.B) {
	for b.Loop() {
		captured(b, "server-scrape-2.txt.gz")
	}
}

func BenchmarkServerSignals(b *testing.B) {
	a, c := captured(b, "server-scrape-1.txt.gz"), captured(b, "server-scrape-2.txt.gz")
	for b.Loop() {
		one(a, c, 5)
	}
}

// one computes an interval's signals from one endpoint's two scrapes.
func one(prev, cur Families, secs float64) (map[string]float64, []OpLatency) {
	r := ServerSignals([]Scrape{{Prev: prev, Cur: cur, Secs: secs}})
	return r.Signals, r.Worst
}

func TestServerSignalsOnCapturedScrapes(t *testing.T) {
	a, b := captured(t, "server-scrape-1.txt.gz"), captured(t, "server-scrape-2.txt.gz")
	sig, worst := one(a, b, 5)
	t.Logf("signals %v\nworst %+v", sig, worst)
	// Latencies of a noop load on the embedded server: present, ordered,
	// in milliseconds (the server exports seconds) and plausible.
	for _, name := range []string{SigPersistenceP50, SigPersistenceP99, SigFrontendP50, SigFrontendP99,
		SigHistoryP50, SigHistoryP99, SigWorkflowS2SP99, SigLockP99, SigSemaphoreP99} {
		v, ok := sig[name]
		if !ok || v <= 0 || v > 60000 {
			t.Errorf("%s = %v (present %v): want a latency in ms", name, v, ok)
		}
	}
	// noop's activity is dispatched eagerly, with the workflow task's
	// completion, so the server never records an activity schedule-to-start.
	if v, ok := sig[SigActivityS2SP99]; ok {
		t.Errorf("activity schedule-to-start %v: the capture has no such series", v)
	}
	if sig[SigPersistenceP50] > sig[SigPersistenceP99] || sig[SigFrontendP50] > sig[SigFrontendP99] {
		t.Errorf("p50 above p99: %v", sig)
	}
	if len(worst) == 0 || len(worst) > worstOps {
		t.Fatalf("worst persistence operations %+v", worst)
	}
	for i := 1; i < len(worst); i++ {
		if worst[i].P99MS > worst[i-1].P99MS {
			t.Errorf("worst operations not slowest first: %+v", worst)
		}
	}
	if v, ok := sig[SigPersistenceP99]; ok && worst[0].P99MS < v {
		t.Errorf("slowest operation's p99 %v below the overall p99 %v", worst[0].P99MS, v)
	}

	// From totals instead of deltas the figures differ: the first scrape
	// holds the start-up's observations too.
	ps, _ := histFamily(b, mPersistenceLatency)
	ds := DeltaHistograms(histFamily2(a), ps)
	if Merge(ds).Count >= Merge(ps).Count {
		t.Errorf("delta count %v not below the total %v", Merge(ds).Count, Merge(ps).Count)
	}

	// The same scrape twice: nothing happened, so no latency signals.
	same, _ := one(b, b, 5)
	for _, name := range []string{SigPersistenceP99, SigFrontendP99, SigWorkflowS2SP99} {
		if _, ok := same[name]; ok {
			t.Errorf("%s present for an empty interval", name)
		}
	}
	// The server restarted between the scrapes (second before first: every
	// counter went down): the later scrape counts from zero, so the
	// interval's figures are those of its whole content.
	reset, _ := one(inflate(b), a, 5)
	whole, _ := one(Families{}, a, 5)
	if reset[SigPersistenceP99] != whole[SigPersistenceP99] || reset[SigPersistenceP99] == 0 {
		t.Errorf("after a reset p99 %v, want the first scrape's own %v", reset[SigPersistenceP99], whole[SigPersistenceP99])
	}
}

// inflate returns a copy of f with every histogram count raised by 1000:
// any later scrape has fewer, as after a restart.
func inflate(f Families) Families {
	out := Families{}
	for name, mf := range f {
		c := proto.Clone(mf).(*dto.MetricFamily)
		for _, m := range c.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				h.SampleCount = proto.Uint64(h.GetSampleCount() + 1000)
				for _, b := range h.GetBucket() {
					b.CumulativeCount = proto.Uint64(b.GetCumulativeCount() + 1000)
				}
			}
		}
		out[name] = c
	}
	return out
}

func histFamily2(f Families) []Series {
	s, _ := histFamily(f, mPersistenceLatency)
	return s
}

// replay is a Source that returns recorded scrapes in turn, then fails.
type replay struct {
	scrapes []Families
	n       int
}

func (r *replay) Scrape(context.Context) (Families, error) {
	if r.n >= len(r.scrapes) {
		return nil, errors.New("connection refused")
	}
	r.n++
	return r.scrapes[r.n-1], nil
}

func (r *replay) String() string { return "replay" }

func TestSamplerOnCapturedScrapes(t *testing.T) {
	src := &replay{scrapes: []Families{captured(t, "server-scrape-1.txt.gz"), captured(t, "server-scrape-2.txt.gz")}}
	var got []Sample
	start := time.Now()
	s := &Sampler{Targets: []Target{{URL: "replay", Source: src}}, Start: start, Every: 5 * time.Second, Emit: func(smp Sample) { got = append(got, smp) }}
	s.Begin(t.Context()) // baseline: the first scrape
	// Ticks closer than Every to the baseline are folded into the next sample.
	for i := 1; i <= 4; i++ {
		s.Tick(start.Add(time.Duration(i) * time.Second))
	}
	s.Tick(start.Add(5 * time.Second)) // the second scrape: a real delta
	s.Tick(start.Add(6 * time.Second)) // folded, taken by Stop: the source now fails
	s.Stop(t.Context())
	if len(got) != 2 {
		t.Fatalf("%d samples, want 2 (one per 5 s, one at Stop): %+v", len(got), got)
	}
	if got[0].OffsetS != 5 || got[0].Signals[SigPersistenceP99] <= 0 || len(got[0].WorstPersistence) == 0 || len(got[0].Warnings) != 0 {
		t.Errorf("first sample %+v: want the delta's signals at 5 s", got[0])
	}
	if got[1].OffsetS != 6 || len(got[1].Warnings) != 1 || len(got[1].Signals) != 0 {
		t.Errorf("second sample %+v: want a warning and no signals from a failed scrape", got[1])
	}
}
