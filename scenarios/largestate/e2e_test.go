package largestate

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
)

// The five modes side by side on a 4 MiB dataset (2 MiB payload limit):
// inline is stuck at the limit by the SDK's check and ends by its run
// timeout, inline-server is terminated by the server at the limit, the
// claim check and the compressed state complete with every byte checked,
// incremental checkpoints continue as new and add up to every id once;
// the blob store is clean. Verification holds each grow child to its
// predicted end state.
//
// The grow children's run timeout must cover their work on a loaded
// machine, not only the stuck wait: at 5 s, with the machine at a load of
// 20, children timed out before they reached the limit.
func TestLargeStateModesSideBySide(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 3*time.Minute, "--scenario", Name,
		"--option", "stuck-timeout=15s", "--option", "max-events=150", "--option", "items=30000", "--option", "checkpoint-every=3000",
		"--rate", "2/s", "--iterations", "5")
	if res.Exit != 0 {
		t.Errorf("exit %d, want 0", res.Exit)
	}
	s := squalltest.Scenario(t, res.Report, Name)
	squalltest.InvariantsHold(t, s, "no-data-lost", "state-ends-at-payload-limit", "blob-store-clean", "expected-end-state", "no-lost-workflows")
	// The grow children are journaled with the end state the limit
	// predicts, beside the five workflows the driver started.
	if v := s.Verification; v == nil || v.Expected["timed-out"] != 1 || v.Expected["terminated"] != 1 || v.Expected["completed"] != 6 {
		t.Errorf("journal expectations %+v", v)
	}
	var rows []ModeRow
	if err := json.Unmarshal(s.Details["modes"], &rows); err != nil {
		t.Fatal(err)
	}
	by := map[string]ModeRow{}
	for _, r := range rows {
		by[r.Mode] = r
		t.Logf("%-13s %v history %d bytes, %d events", r.Mode, r.Outcomes, r.HistoryBytes, r.HistoryEvents)
	}
	if by[ModeInline].Outcomes["timed_out"] != 1 || by[ModeInlineServer].Outcomes["terminated"] != 1 ||
		by[ModeCompressed].Outcomes["completed"] != 1 || by[ModeExternal].Outcomes["completed"] != 1 || by[ModeIncremental].Runs < 2 {
		t.Errorf("modes %+v", rows)
	}
	// History bytes side by side: the state itself (inline, > 2 MiB
	// accumulated) vs compressed vs references only.
	if !(by[ModeInline].HistoryBytes > 2<<20 && by[ModeExternal].HistoryBytes < 100<<10 && by[ModeCompressed].HistoryBytes < by[ModeInline].HistoryBytes) {
		t.Errorf("history bytes inline %d, compressed %d, external %d", by[ModeInline].HistoryBytes, by[ModeCompressed].HistoryBytes, by[ModeExternal].HistoryBytes)
	}
	var cs CodecStats
	if err := json.Unmarshal(s.Details["compression"], &cs); err != nil || cs.Ratio < 2 || cs.EncodeMS <= 0 {
		t.Errorf("compression %+v (%v)", cs, err)
	}
}
