package entity

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMigrateV1(t *testing.T) {
	var txs []TxV1
	for i := int64(1); i <= 20; i++ {
		txs = append(txs, TxV1{ID: i, Amount: float64(i) / 10})
	}
	raw, _ := json.Marshal(StateV1{Version: 1, EntityID: "e", Balance: -0.015, Transactions: txs})
	st, err := DecodeState(raw, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	var hash uint64
	for i := int64(1); i <= 20; i++ {
		hash += IDHashOf(i)
	}
	if st.Version != 2 || st.EntityID != "e" || st.Balance != -2 || st.TxCount != 20 || st.IDHash != hash || st.MigratedFrom != 1 {
		t.Fatalf("migrated %+v", st)
	}
	if len(st.Recent) != RecentMax || st.Recent[0].ID != 13 || st.Recent[RecentMax-1].Amount != 200 {
		t.Fatalf("recent window %+v", st.Recent)
	}
	// A state without a version field is v1 (written before versions existed).
	st2, err := DecodeState(json.RawMessage(`{"entity_id":"x","balance":1.5,"transactions":[{"id":4,"amount":1.5}]}`), "")
	if err != nil || st2.Balance != 150 || st2.TxCount != 1 || st2.MigratedFrom != 1 {
		t.Fatalf("unversioned: %+v %v", st2, err)
	}
}

func TestDecodeState(t *testing.T) {
	st, err := DecodeState(nil, "fresh")
	if err != nil || st.EntityID != "fresh" || st.Version != StateVersion || st.TxCount != 0 {
		t.Fatalf("fresh: %+v %v", st, err)
	}
	st.Apply(Tx{ID: 7, Amount: -5})
	raw, err := EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeState(raw, "")
	if err != nil || back.Balance != -5 || back.IDHash != IDHashOf(7) || len(back.Recent) != 1 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := DecodeState(json.RawMessage(`{"version":3}`), ""); err == nil || !strings.Contains(err.Error(), "unknown schema version 3") {
		t.Fatalf("v3: %v", err)
	}
	if _, err := DecodeState(json.RawMessage(`[1]`), ""); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, err := EncodeState(State{Version: 1}); err == nil {
		t.Fatal("encoded an old version")
	}
}

func TestApplyKeepsStateBounded(t *testing.T) {
	st := NewState("b")
	for i := int64(0); i < 10000; i++ {
		st.Apply(Tx{ID: i, Amount: 1})
	}
	if len(st.Recent) != RecentMax || st.Recent[RecentMax-1].ID != 9999 || st.TxCount != 10000 || st.Balance != 10000 {
		t.Fatalf("state %+v", st)
	}
	raw, _ := EncodeState(st)
	if len(raw) > 1024 {
		t.Fatalf("state is %d bytes after 10,000 transactions; want it compact", len(raw))
	}
}

func TestIDHashDetectsDuplicateAndLoss(t *testing.T) {
	// Losing one id and duplicating another keeps the count; the hash differs.
	var a, b uint64
	for i := int64(0); i < 1000; i++ {
		a += IDHashOf(i)
		if i == 500 {
			b += IDHashOf(499)
		} else {
			b += IDHashOf(i)
		}
	}
	if a == b {
		t.Fatal("hash did not see the swap")
	}
	for i := int64(0); i < 1000; i++ {
		if a := AmountOf(i); a < -10000 || a > 10000 {
			t.Fatalf("amount %d", a)
		}
	}
}

func TestParseStrategy(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Strategy
		bad  bool
	}{
		{"events:500", Strategy{Kind: KindEvents, Events: 500}, false},
		{"suggested", Strategy{Kind: KindSuggested}, false},
		{"never", Strategy{Kind: KindNever}, false},
		{"hybrid", Strategy{Kind: KindHybrid, Events: 1000, MaxAge: time.Minute}, false},
		{"age:90s", Strategy{Kind: KindAge, MaxAge: 90 * time.Second}, false},
		{"age:10ms", Strategy{}, true},
		{"age:soon", Strategy{}, true},
		{"events:0", Strategy{}, true},
		{"events", Strategy{}, true},
		{"sometimes", Strategy{}, true},
	} {
		got, err := ParseStrategy(c.in, 1000, time.Minute)
		if (err != nil) != c.bad || (!c.bad && got != c.want) {
			t.Errorf("ParseStrategy(%q) = %+v, %v", c.in, got, err)
		}
	}
	s := Strategy{Kind: KindHybrid, Events: 3, MaxAge: time.Minute}
	for _, c := range []struct {
		n    int
		sug  bool
		age  time.Duration
		want string
	}{{2, false, 0, ""}, {3, false, 0, ReasonEvents}, {0, true, 0, ReasonSuggested}, {0, false, time.Minute, ReasonAge}} {
		if got := s.decide(c.n, c.sug, c.age); got != c.want {
			t.Errorf("hybrid decide(%d, %v, %s) = %q, want %q", c.n, c.sug, c.age, got, c.want)
		}
	}
}
