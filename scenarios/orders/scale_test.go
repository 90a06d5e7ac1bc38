package orders

import (
	"fmt"
	"testing"

	"github.com/squallbench/squall/scenarios/orders/orderstore"
)

// A store that applies an order twice (a wrong store: its count and sum
// then exceed the seed's prediction) fails the exactly-once check at ten
// million orders, and the right store passes it.
func TestTenMillionExactlyOnceCatchesDoubleApply(t *testing.T) {
	n, per := int64(10_000_000), int64(50_000)
	if testing.Short() {
		n = 500_000
	}
	m := orderstore.Model{Seed: 11, FailureRate: 0.001}
	s := orderstore.New(m, nil)
	if err := s.Open(0, n); err != nil {
		t.Fatal(err)
	}
	buf := make([]int64, 0, per)
	for from := int64(0); from < n; from += per {
		buf = buf[:0]
		for id := from; id < min(from+per, n); id++ {
			buf = append(buf, id)
		}
		if _, err := s.Apply(0, orderstore.ApplyRequest{IDs: buf, Owner: fmt.Sprintf("wf/%d", from/per)}); err != nil {
			t.Fatal(err)
		}
	}
	l, _ := s.Ledger(0)
	d := &driver{pred: m.Predict(n, 1), store: s, batches: []batchCheck{{n: 0, ledger: l}}}
	if inv := d.appliedExactlyOnce(); !inv.OK {
		t.Fatalf("right store failed: %s", inv.Detail)
	}
	// The wrong store: order 0 applied a second time, effect and all.
	wrong := l
	wrong.Applied++
	wrong.Amount += m.Amount(0)
	d.batches[0].ledger = wrong
	if inv := d.appliedExactlyOnce(); inv.OK {
		t.Fatalf("a double application passed: %s", inv.Detail)
	}
}
