package degradation

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// fakeServices answers like the two services: failing per request seq as
// the test says, and counting what each was asked.
type fakeServices struct {
	mu            sync.Mutex
	primaryDown   func(seq int) bool
	secondaryDown func(seq int) bool
	asked         map[string][]int // service -> seqs
}

func (f *fakeServices) call(_ context.Context, in CallInput) (string, error) {
	seq, _ := strconv.Atoi(in.Key[strings.LastIndexByte(in.Key, '/')+1:])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[in.URL] = append(f.asked[in.URL], seq)
	if (in.URL == "primary" && f.primaryDown(seq)) || (in.URL == "secondary" && f.secondaryDown(seq)) {
		return "", errors.New("503")
	}
	return in.URL + ":" + in.Key, nil
}

func run(t *testing.T, f *fakeServices, in Input) Result {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(f.call, activity.RegisterOptions{Name: ActivityCall})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "wf"})
	env.ExecuteWorkflow(WorkflowName, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func input() Input {
	return Input{PrimaryURL: "primary", SecondaryURL: "secondary", Requests: 30, Interval: time.Second,
		Breaker:        BreakerConfig{FailureThreshold: 3, OpenTimeout: 5 * time.Second, HalfOpenSuccesses: 2},
		PrimaryTimeout: time.Second, SecondaryTimeout: time.Second, SecondaryAttempts: 2}
}

// The primary is down for requests 5..14: three failures open the breaker,
// the secondary answers, the primary is not asked while open, probes every
// five seconds fail until it is back, then two good probes close it.
func TestWorkflowOutageOpensAndRecovers(t *testing.T) {
	f := &fakeServices{asked: map[string][]int{},
		primaryDown: func(seq int) bool { return seq >= 5 && seq < 15 }, secondaryDown: func(int) bool { return false }}
	r := run(t, f, input())
	if len(r.Answers) != 30 || r.Final != Closed {
		t.Fatalf("%d answers, final %s", len(r.Answers), r.Final)
	}
	var to []string
	for _, tr := range r.Transitions {
		to = append(to, tr.To+"@"+strconv.Itoa(tr.Seq))
	}
	// 5,6,7 fail -> open at 7; probe at 7+5 s = 12 fails -> open; probe at
	// 17 ok, 18 ok -> closed.
	want := "open@7 half-open@12 open@12 half-open@17 closed@18"
	if got := strings.Join(to, " "); got != want {
		t.Errorf("transitions %s, want %s", got, want)
	}
	for _, a := range r.Answers {
		blocked := (a.Seq > 7 && a.Seq < 12) || (a.Seq > 12 && a.Seq < 17)
		if a.PrimaryTried == blocked {
			t.Errorf("request %d: primary tried %v", a.Seq, a.PrimaryTried)
		}
		wantSrc := SourcePrimary
		if a.Seq >= 5 && a.Seq < 17 {
			wantSrc = SourceSecondary
		}
		if a.Source != wantSrc {
			t.Errorf("request %d answered by %s, want %s", a.Seq, a.Source, wantSrc)
		}
	}
	// The primary was asked exactly for the requests the breaker let through.
	if n := len(f.asked["primary"]); n != 30-8 {
		t.Errorf("primary asked %d times, want 22", n)
	}
	if why := Replay(input().Breaker, r); why != "" {
		t.Errorf("replay: %s", why)
	}
}

// Both down: every request still answered, from the static fallback.
func TestWorkflowStaticFallback(t *testing.T) {
	f := &fakeServices{asked: map[string][]int{},
		primaryDown: func(int) bool { return true }, secondaryDown: func(int) bool { return true }}
	in := input()
	in.Requests = 6
	r := run(t, f, in)
	for _, a := range r.Answers {
		if a.Source != SourceStatic || a.Value != StaticAnswer || a.SecondaryErr == "" {
			t.Errorf("answer %+v", a)
		}
	}
	// Two attempts at the secondary per request.
	if n := len(f.asked["secondary"]); n != 12 {
		t.Errorf("secondary asked %d times, want 12", n)
	}
}

// Replay notices a workflow that called the primary while its breaker was
// open, and one that did not open at the threshold.
func TestReplayCatchesRuleBreaks(t *testing.T) {
	f := &fakeServices{asked: map[string][]int{},
		primaryDown: func(seq int) bool { return seq >= 2 }, secondaryDown: func(int) bool { return false }}
	in := input()
	in.Requests = 8
	r := run(t, f, in)
	if why := Replay(in.Breaker, r); why != "" {
		t.Fatalf("honest run diverges: %s", why)
	}
	tampered := r
	tampered.Answers = append([]Answer(nil), r.Answers...)
	tampered.Answers[6].PrimaryTried = true // called while open
	if Replay(in.Breaker, tampered) == "" {
		t.Error("a primary call while open went unnoticed")
	}
	in.Breaker.FailureThreshold = 4 // the rules say: open one failure later
	if Replay(in.Breaker, r) == "" {
		t.Error("opening at the wrong threshold went unnoticed")
	}
}
