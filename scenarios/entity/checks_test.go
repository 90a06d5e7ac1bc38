package entity

import (
	"testing"
)

// The message checks fail on the histories a broken workflow leaves.
func TestMessageChecksCatchBrokenHistories(t *testing.T) {
	good := func() *ledger {
		return &ledger{acked: 2, answered: 2, answerHash: 7, chain: Chain{
			Runs:             []RunStat{{Status: statusContinued, Signals: 1, Updates: 1}, {Status: statusCompleted, Updates: 1}},
			UpdatesCompleted: 2, AnswerHash: 7}}
	}
	cases := []struct {
		name    string
		check   func(*driver) bool
		breakIt func(*ledger)
	}{
		{"signals-drained-on-receiving-run", func(d *driver) bool { return d.checkSignalsDrained().OK },
			func(l *ledger) { l.chain.Runs[0].UnprocessedSignals = 1 }},
		{"handlers-finished-before-continue-as-new", func(d *driver) bool { return d.checkHandlersFinished().OK },
			func(l *ledger) { l.chain.Runs[0].UnfinishedUpdates = 1 }},
		{"updates-answered-exactly-once (twice)", func(d *driver) bool { return d.checkAnswered().OK },
			func(l *ledger) { l.chain.UpdatesTwice = 1 }},
		{"updates-answered-exactly-once (other answer)", func(d *driver) bool { return d.checkAnswered().OK },
			func(l *ledger) { l.chain.AnswerHash = 8 }},
		{"rejected-updates-never-in-history (accepted)", func(d *driver) bool { return d.checkRejected().OK },
			func(l *ledger) { l.malformedAccepted = 1 }},
		{"rejected-updates-never-in-history (in history)", func(d *driver) bool { return d.checkRejected().OK },
			func(l *ledger) { l.chain.Malformed = 1 }},
		{"storm-continued-as-new", func(d *driver) bool { return d.checkStormContinued().OK },
			func(l *ledger) { l.chain.Runs = l.chain.Runs[1:] }},
		{"update-answers-consistent", func(d *driver) bool { return d.checkAnswerChain().OK },
			func(l *ledger) {
				l.chain.answers = []answerRec{{Amount: 5, Answer: TxAnswer{Balance: 5, TxCount: 1}}, {Amount: 3, Answer: TxAnswer{Balance: 9, TxCount: 2}}}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &driver{burst: 2, finished: true, entities: []*ledger{good()}}
			if !c.check(d) {
				t.Fatal("fails on a sound history")
			}
			c.breakIt(d.entities[0])
			if c.check(d) {
				t.Fatal("passes on a broken history")
			}
		})
	}
}
