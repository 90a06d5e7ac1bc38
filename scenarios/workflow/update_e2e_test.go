package workflow

import (
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
)

func TestUpdateOptionsNeedUpdate(t *testing.T) {
	for _, kv := range []map[string]string{
		{"type": "T", "start": StartUpdateWithStart},
		{"type": "T", "expect-update": "rejected"},
		{"type": "T", "update-input": "{}"},
		{"type": "T", "update": "u", "start": StartUpdateWithStart, "update-delay": "1s"},
	} {
		if _, err := configure(values(t, kv)); err == nil {
			t.Errorf("%v accepted", kv)
		}
	}
	if _, err := configure(values(t, map[string]string{"type": "T", "update": "u", "start": StartUpdateWithStart})); err != nil {
		t.Error(err)
	}
}

// TestE2EUpdates drives squall's own entity workflow as if it were the
// user's: its tx update validates the transaction. Each workflow is
// created by update-with-start and times out after 3 s (the expected end
// state); a valid transaction must be accepted, an out-of-range one
// rejected — and the opposite expectation fails the run.
func TestE2EUpdates(t *testing.T) {
	squalltest.SkipIfShort(t)
	common := []string{"--scenario", Name, "--option", "type=squall.entity",
		"--option", `input={"entity_id":"w","strategy":{"kind":"events","events":1000}}`,
		"--option", "execution-timeout=3s", "--option", "expect=timed-out",
		"--option", "start=update-with-start", "--option", "update=tx", "--rate", "5/s", "--iterations", "10"}
	for _, c := range []struct {
		amount, expect string
		exit           int
	}{{"5", "accepted", 0}, {"99999999", "rejected", 0}, {"5", "rejected", 1}} {
		res := squalltest.Run(t, 3*time.Minute, append(common, "--option", `update-input={"id":{{.Iteration}},"amount":`+c.amount+`}`,
			"--option", "expect-update="+c.expect)...)
		if res.Exit != c.exit {
			t.Fatalf("amount %s expect-update=%s: exit %d, want %d\n%s", c.amount, c.expect, res.Exit, c.exit, res.Stdout)
		}
		s := squalltest.Scenario(t, res.Report, Name)
		if _, ok := s.HistogramsMS[HistUpdate]; !ok {
			t.Errorf("no %s histogram", HistUpdate)
		}
		found := false
		for _, i := range s.Invariants {
			if i.Name == "updates-as-expected" {
				found = true
				if i.OK != (c.exit == 0) || !strings.Contains(i.Detail, c.expect) {
					t.Errorf("amount %s expect-update=%s: %+v", c.amount, c.expect, i)
				}
			}
		}
		if !found {
			t.Error("no updates-as-expected invariant")
		}
	}
}
