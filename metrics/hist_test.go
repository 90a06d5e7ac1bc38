package metrics

import (
	"math"
	"strings"
	"testing"
)

func parse(t *testing.T, text string) Families {
	t.Helper()
	f, err := ParseText(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const histA = `# TYPE lat histogram
lat_bucket{op="a",le="1"} 10
lat_bucket{op="a",le="2"} 20
lat_bucket{op="a",le="4"} 30
lat_bucket{op="a",le="+Inf"} 40
lat_sum{op="a"} 100
lat_count{op="a"} 40
lat_bucket{op="b",le="1"} 0
lat_bucket{op="b",le="2"} 0
lat_bucket{op="b",le="4"} 0
lat_bucket{op="b",le="+Inf"} 0
lat_sum{op="b"} 0
lat_count{op="b"} 0
`

const histB = `# TYPE lat histogram
lat_bucket{op="a",le="1"} 10
lat_bucket{op="a",le="2"} 20
lat_bucket{op="a",le="4"} 130
lat_bucket{op="a",le="+Inf"} 140
lat_sum{op="a"} 400
lat_count{op="a"} 140
lat_bucket{op="b",le="1"} 0
lat_bucket{op="b",le="2"} 0
lat_bucket{op="b",le="4"} 0
lat_bucket{op="b",le="+Inf"} 0
lat_sum{op="b"} 0
lat_count{op="b"} 0
`

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestQuantileInterpolatesLikePromQL(t *testing.T) {
	h := Buckets{Bounds: []float64{1, 2, 4}, Cum: []float64{10, 20, 30}, Count: 40}
	cases := []struct{ q, want float64 }{
		{0.25, 1},    // rank 10: the top of the first bucket
		{0.5, 2},     // rank 20
		{0.375, 1.5}, // rank 15: half-way through (1,2]
		{0.625, 3},   // rank 25: half-way through (2,4]
		{0.99, 4},    // rank 39.6 lies in +Inf: the highest finite bound
		{0.1, 0.4},   // rank 4 in the first bucket, from 0
	}
	for _, c := range cases {
		got, ok := h.Quantile(c.q)
		if !ok || !near(got, c.want) {
			t.Errorf("q=%v: got %v (ok %v), want %v", c.q, got, ok, c.want)
		}
	}
	if _, ok := (Buckets{Bounds: []float64{1}, Cum: []float64{0}}).Quantile(0.5); ok {
		t.Error("empty histogram gave a quantile")
	}
}

func TestDeltaTakesOnlyTheIntervalsObservations(t *testing.T) {
	a, b := parse(t, histA).Histograms("lat"), parse(t, histB).Histograms("lat")
	d := DeltaHistograms(a, b)
	if len(d) != 1 || d[0].Labels["op"] != "a" {
		t.Fatalf("delta %+v: want only op a (b had no new observations)", d)
	}
	h := d[0].H
	if h.Count != 100 || !near(h.Sum, 300) || h.Cum[0] != 0 || h.Cum[1] != 0 || h.Cum[2] != 100 {
		t.Fatalf("delta buckets %+v", h)
	}
	// All 100 new observations are in (2,4]: the p50 of the interval is 3,
	// while the totals' p50 would be far lower.
	if v, _ := h.Quantile(0.5); !near(v, 3) {
		t.Errorf("interval p50 %v, want 3", v)
	}
	if v, _ := Merge(b).Quantile(0.5); v >= 3 {
		t.Errorf("totals p50 %v should differ from the interval's", v)
	}
}

func TestDeltaCounterReset(t *testing.T) {
	// The server restarted between the scrapes: counts went down, so all
	// of the new scrape is the interval's.
	d := DeltaHistograms(parse(t, histB).Histograms("lat"), parse(t, histA).Histograms("lat"))
	if len(d) != 1 || d[0].H.Count != 40 || d[0].H.Cum[2] != 30 {
		t.Fatalf("after reset got %+v, want the whole second scrape", d)
	}
	vs := DeltaValues([]Value{{key: "x", V: 50}}, []Value{{key: "x", V: 7}})
	if vs[0].V != 7 {
		t.Errorf("counter reset: delta %v, want 7", vs[0].V)
	}
}

func TestDeltaEmpty(t *testing.T) {
	a := parse(t, histA).Histograms("lat")
	if d := DeltaHistograms(a, a); len(d) != 0 {
		t.Fatalf("same scrape twice gave %+v, want no series", d)
	}
	if _, ok := Merge(nil).Quantile(0.99); ok {
		t.Error("no series gave a quantile")
	}
	if sig, _ := one(Families{}, Families{}, 1); len(sig) != 0 {
		t.Errorf("empty scrapes gave signals %v", sig)
	}
}

func TestMergeDifferentBounds(t *testing.T) {
	m := Merge([]Series{
		{H: Buckets{Bounds: []float64{1, 4}, Cum: []float64{5, 10}, Count: 10}},
		{H: Buckets{Bounds: []float64{2, 4}, Cum: []float64{3, 6}, Count: 6}},
	})
	want := []float64{5, 8, 16} // at 1: 5+0, at 2: 5+3, at 4: 10+6
	if m.Count != 16 || len(m.Cum) != 3 {
		t.Fatalf("merged %+v", m)
	}
	for i := range want {
		if m.Cum[i] != want[i] {
			t.Errorf("bound %v: cum %v, want %v", m.Bounds[i], m.Cum[i], want[i])
		}
	}
}

func TestParseTextError(t *testing.T) {
	if _, err := ParseText(strings.NewReader("lat_bucket{le=\"1\" 3\n")); err == nil {
		t.Fatal("malformed text parsed")
	}
}
