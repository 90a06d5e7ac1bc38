package orderstore

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

func ids(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// A deliberately double-applied order is reported, by whom, and never
// changes the effect; a retry by the same owner is told apart.
func TestDoubleApplicationIsReported(t *testing.T) {
	s := New(Model{Seed: 1}, nil)
	if err := s.Open(0, 10); err != nil {
		t.Fatal(err)
	}
	st, err := s.Apply(0, ApplyRequest{IDs: ids(0, 10), Owner: "wf/1"})
	if err != nil || st != "aaaaaaaaaa" {
		t.Fatalf("first apply: %q %v", st, err)
	}
	before, _ := s.Ledger(0)
	st, _ = s.Apply(0, ApplyRequest{IDs: []int64{3, 4}, Owner: "wf/1"}) // the same activity, retried
	if st != "rr" {
		t.Fatalf("retry by the same owner: %q, want rr", st)
	}
	st, _ = s.Apply(0, ApplyRequest{IDs: []int64{5}, Owner: "wf/2"}) // someone else
	if st != "d" {
		t.Fatalf("apply by another owner: %q, want d", st)
	}
	l, _ := s.Ledger(0)
	if l.Applied != 10 || l.Amount != before.Amount {
		t.Fatalf("duplicates changed the effect: %+v", l)
	}
	if l.RetryDuplicates != 2 || l.ForeignDuplicates != 1 || len(l.ForeignExamples) != 1 || l.Attempts != 13 {
		t.Fatalf("ledger %+v: want 2 retry duplicates, 1 foreign (with example), 13 attempts", l)
	}
}

func TestFailureClasses(t *testing.T) {
	m := Model{Seed: 9, FailureRate: 0.05, TransientRate: 0.1}
	const n = 100_000
	var perm, trans int
	for id := range int64(n) {
		switch m.Class(id) {
		case ClassPermanent:
			perm++
		case ClassTransient:
			trans++
		}
	}
	if math.Abs(float64(perm)/n-0.05) > 0.005 || math.Abs(float64(trans)/n-0.1) > 0.005 {
		t.Fatalf("%d permanent, %d transient of %d: rates off", perm, trans, n)
	}
	s := New(m, nil)
	_ = s.Open(0, 1000)
	all := ids(0, 1000)
	for attempt := 1; attempt <= 3; attempt++ {
		st, _ := s.Apply(0, ApplyRequest{IDs: all, Owner: "x"})
		var pending []int64
		for i, c := range []byte(st) {
			id := all[i]
			switch {
			case c == StatusFailed && m.Class(id) == ClassOK:
				t.Fatalf("attempt %d: ok order %d refused", attempt, id)
			case c == StatusFailed && m.Class(id) == ClassTransient && attempt > 1:
				t.Fatalf("attempt %d: transient order %d refused again", attempt, id)
			case c != StatusFailed && m.Class(id) == ClassPermanent:
				t.Fatalf("attempt %d: permanent order %d applied", attempt, id)
			case c == StatusFailed:
				pending = append(pending, id)
			}
		}
		all = pending
	}
	l, _ := s.Ledger(0)
	p := m.Predict(1000, 3)
	if l.Applied != p.Successful || l.Failed != p.Failed || l.Amount != p.Amount || l.Misapplied != 0 {
		t.Fatalf("ledger %+v, prediction %+v", l, p)
	}
	if p1 := m.Predict(1000, 1); p1.Failed <= p.Failed {
		t.Fatalf("with one attempt transient failures must count as failed: %+v vs %+v", p1, p)
	}
}

func TestHTTPRoundTrip(t *testing.T) {
	s := New(Model{Seed: 2}, nil)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	_ = s.Open(4, 50)
	ctx := context.Background()
	c := DefaultClient
	orders, err := c.Orders(ctx, srv.URL, 4, 10, 20)
	if err != nil || len(orders) != 10 || orders[0].ID != 10 || orders[0].Amount != s.Model.Amount(10) {
		t.Fatalf("orders: %v %v", orders, err)
	}
	st, err := c.Apply(ctx, srv.URL, 4, ApplyRequest{IDs: []int64{10, 11}, Owner: "o"})
	if err != nil || st != "aa" {
		t.Fatalf("apply: %q %v", st, err)
	}
	if err := c.Reduce(ctx, srv.URL, 4, ReduceRequest{Successful: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Orders(ctx, srv.URL, 99, 0, 1); err == nil {
		t.Fatal("unknown batch must be an error")
	}
	if _, err := c.Apply(ctx, srv.URL, 4, ApplyRequest{IDs: []int64{1}}); err == nil {
		t.Fatal("apply without owner must be an error")
	}
	l, _ := s.Ledger(4)
	if l.Applied != 2 || len(l.Reduces) != 1 || l.NeverAttempted != 48 {
		t.Fatalf("ledger %+v", l)
	}
	if err := s.Open(4, 1); err == nil {
		t.Fatal("reopening a batch must be an error")
	}
}

// The api-errors / api-latency switch: a refused request has no effect on
// the ledger, latency is added, and zero values heal.
func TestStoreFaults(t *testing.T) {
	s := New(Model{Seed: 1}, nil)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	if err := s.Open(0, 10); err != nil {
		t.Fatal(err)
	}
	cl := DefaultClient
	apply := func() error {
		_, err := cl.Apply(context.Background(), srv.URL, 0, ApplyRequest{IDs: ids(0, 10), Owner: "wf/1"})
		return err
	}
	s.SetFaults(1, 0)
	if err := apply(); err == nil {
		t.Fatal("apply succeeded while the store refuses every request")
	}
	if l, _ := s.Ledger(0); l.Attempts != 0 || l.ApplyRequests != 0 || s.Refused() != 1 {
		t.Fatalf("a refused request reached the ledger: %+v, refused %d", l, s.Refused())
	}
	s.SetFaults(0, 50*time.Millisecond)
	start := time.Now()
	if err := apply(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered in %s with 50ms latency injected", d)
	}
	s.SetFaults(0, 0)
	if l, _ := s.Ledger(0); l.Applied != 10 || s.Refused() != 1 {
		t.Fatalf("after healing: %+v, refused %d", l, s.Refused())
	}
}

// Ten million orders in one batch: the ledger is exact and the store's
// memory stays at a byte and a bit or two per order (the old ledger kept
// six bytes per order and a map entry per owner).
func TestTenMillionOrdersBoundedMemory(t *testing.T) {
	n, per := int64(10_000_000), int64(10_000)
	if testing.Short() {
		n = 1_000_000
	}
	m := Model{Seed: 7, FailureRate: 0.01, TransientRate: 0.02}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New(m, nil)
	if err := s.Open(0, n); err != nil {
		t.Fatal(err)
	}
	buf := make([]int64, 0, per)
	for from := int64(0); from < n; from += per {
		buf = buf[:0]
		for id := from; id < min(from+per, n); id++ {
			buf = append(buf, id)
		}
		owner := fmt.Sprintf("batch-wf/%d", from/per)
		for attempt := 0; attempt < 2 && len(buf) > 0; attempt++ { // a retry re-sends what was refused
			st, err := s.Apply(0, ApplyRequest{IDs: buf, Owner: owner})
			if err != nil {
				t.Fatal(err)
			}
			pending := buf[:0]
			for i, c := range []byte(st) {
				if c == StatusFailed {
					pending = append(pending, buf[i])
				}
			}
			buf = pending
		}
	}
	// The last owner's retry re-sends one applied order: a retry, not a
	// double application.
	if st, _ := s.Apply(0, ApplyRequest{IDs: []int64{n - 1}, Owner: fmt.Sprintf("batch-wf/%d", (n-1)/per)}); st != "r" && st != "f" {
		t.Fatalf("retry of an order by its owner: %q", st)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > n*3/2+(8<<20) {
		t.Errorf("store holds %d MB for %d orders, want about 1.25 bytes per order", grew>>20, n)
	}
	runtime.KeepAlive(s)
	l, _ := s.Ledger(0)
	p := m.Predict(n, 2)
	if l.Applied != p.Successful || l.Amount != p.Amount || l.Failed != p.Failed || l.NeverAttempted != 0 || l.Misapplied != 0 {
		t.Fatalf("ledger %+v, predicted %+v", l, p)
	}
	if l.ForeignDuplicates != 0 || l.MaxAttempts < 2 {
		t.Fatalf("ledger %+v: want no foreign duplicates and some orders tried twice", l)
	}

	// Another operation applying orders already applied is caught, exactly.
	st, _ := s.Apply(0, ApplyRequest{IDs: []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Owner: "intruder/1"})
	l2, _ := s.Ledger(0)
	var applied int64
	for _, c := range []byte(st) {
		if c == StatusDuplicate {
			applied++
		}
	}
	if applied == 0 || l2.ForeignDuplicates != applied || l2.Applied != l.Applied || l2.Amount != l.Amount {
		t.Fatalf("double application: status %q, ledger %+v", st, l2)
	}
}

// Who applied an order is told apart through the owners' bitmaps, also
// when a retry sends ids outside the span its owner first covered.
func TestOwnersAcrossSpans(t *testing.T) {
	s := New(Model{Seed: 3}, nil)
	_ = s.Open(0, 1000)
	_, _ = s.Apply(0, ApplyRequest{IDs: ids(0, 500), Owner: "a"})
	_, _ = s.Apply(0, ApplyRequest{IDs: ids(500, 1000), Owner: "b"})
	// b re-applies a's orders: a double application.
	st, _ := s.Apply(0, ApplyRequest{IDs: ids(0, 10), Owner: "b"})
	if st != "dddddddddd" {
		t.Fatalf("double application answered %q, want all d", st)
	}
	// A retry spanning beyond the owner's first range grows its span
	// without losing what it applied.
	st, _ = s.Apply(0, ApplyRequest{IDs: append(ids(495, 500), ids(0, 3)...), Owner: "a"})
	if st != "rrrrrrrr" {
		t.Fatalf("retry by a: %q, want all r", st)
	}
	l, _ := s.Ledger(0)
	if l.ForeignDuplicates != 10 || l.RetryDuplicates != 8 || l.Applied != 1000 {
		t.Fatalf("ledger %+v", l)
	}
}
