package health

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/squallbench/squall/scenarios"
)

// NameStuck is the invariant of the stuck-work check.
const NameStuck = "no-stuck-work"

// StuckAttempts is the attempt from which a pending workflow task or
// activity counts as stuck: the first retry can be a fault's doing (a
// killed worker, a restarted server); a third attempt still pending after
// the run has drained is a loop.
const StuckAttempts = 3

// StuckOptions say which open workflows to look at.
type StuckOptions struct {
	Namespace string
	Query     string // visibility query selecting the run's workflows
	// MaxDescribe bounds the open workflows described (default 2,000).
	MaxDescribe int
	Attempts    int // default StuckAttempts
}

// StuckWork is one open workflow with a stuck task.
type StuckWork struct {
	WorkflowID string `json:"workflow_id"`
	Type       string `json:"type"`
	// TaskAttempt is the pending workflow task's attempt (0: none pending
	// or not stuck).
	TaskAttempt int32 `json:"task_attempt,omitempty"`
	// Activities are the stuck pending activities: type → attempt.
	Activities  map[string]int32 `json:"activities,omitempty"`
	LastFailure string           `json:"last_failure,omitempty"`
}

// StuckResult is the stuck-work check's outcome.
type StuckResult struct {
	Open      int         `json:"open"`      // open workflows listed
	Described int         `json:"described"` // of which described
	Stuck     []StuckWork `json:"stuck"`
	// TasksByType and ActivitiesByType count stuck workflow tasks per
	// workflow type and stuck activities per activity type.
	TasksByType      map[string]int `json:"tasks_by_type"`
	ActivitiesByType map[string]int `json:"activities_by_type"`
	Unverifiable     int            `json:"unverifiable"`
	Duration         time.Duration  `json:"duration"`
	Failed           string         `json:"failed,omitempty"`
}

// Stuck describes the run's open workflows and names those whose
// workflow task or activities keep being retried.
func Stuck(ctx context.Context, t Temporal, o StuckOptions) *StuckResult {
	began := time.Now()
	r := &StuckResult{TasksByType: map[string]int{}, ActivitiesByType: map[string]int{}}
	defer func() { r.Duration = time.Since(began).Round(time.Millisecond) }()
	if o.MaxDescribe <= 0 {
		o.MaxDescribe = 2000
	}
	if o.Attempts <= 0 {
		o.Attempts = StuckAttempts
	}
	query := "ExecutionStatus = 'Running'"
	if o.Query != "" {
		query = o.Query + " AND " + query
	}
	type open struct{ id, run, typ string }
	var opens []open
	var token []byte
	for ctx.Err() == nil {
		page, err := t.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: o.Namespace, PageSize: 1000, NextPageToken: token, Query: query})
		if err != nil {
			r.Failed = fmt.Sprintf("list workflows (%s): %v", query, err)
			return r
		}
		for _, info := range page.GetExecutions() {
			r.Open++
			if len(opens) < o.MaxDescribe {
				opens = append(opens, open{info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId(), info.GetType().GetName()})
			}
		}
		token = page.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	var mu sync.Mutex
	jobs := make(chan open)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range jobs {
				d, err := t.DescribeWorkflowExecution(ctx, w.id, w.run)
				mu.Lock()
				if err != nil {
					r.Unverifiable++
					mu.Unlock()
					continue
				}
				r.Described++
				s := StuckWork{WorkflowID: w.id, Type: w.typ}
				if wt := d.GetPendingWorkflowTask(); wt != nil && wt.GetAttempt() >= int32(o.Attempts) {
					s.TaskAttempt = wt.GetAttempt()
					r.TasksByType[w.typ]++
				}
				for _, a := range d.GetPendingActivities() {
					if a.GetAttempt() < int32(o.Attempts) {
						continue
					}
					if s.Activities == nil {
						s.Activities = map[string]int32{}
					}
					at := a.GetActivityType().GetName()
					s.Activities[at] = max(s.Activities[at], a.GetAttempt())
					r.ActivitiesByType[at]++
					if s.LastFailure == "" {
						s.LastFailure = quote(a.GetLastFailure().GetMessage(), 200)
					}
				}
				if s.TaskAttempt > 0 || len(s.Activities) > 0 {
					r.Stuck = append(r.Stuck, s)
				}
				mu.Unlock()
			}
		}()
	}
	for _, w := range opens {
		select {
		case jobs <- w:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	sort.Slice(r.Stuck, func(i, j int) bool { return r.Stuck[i].WorkflowID < r.Stuck[j].WorkflowID })
	return r
}

// Invariant is the stuck-work check's verdict.
func (r *StuckResult) Invariant(mode Mode) scenarios.Invariant {
	if r.Failed != "" {
		return invariant(NameStuck, mode, false, "stuck work not checked: "+r.Failed)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d workflow(s) open after the run, %d described", r.Open, r.Described)
	if r.Unverifiable > 0 {
		fmt.Fprintf(&b, " (%d could not be described)", r.Unverifiable)
	}
	if len(r.Stuck) == 0 {
		fmt.Fprintf(&b, "; no workflow task or activity at attempt %d or more", StuckAttempts)
		return invariant(NameStuck, mode, true, b.String())
	}
	fmt.Fprintf(&b, "; %d stuck:", len(r.Stuck))
	if len(r.TasksByType) > 0 {
		fmt.Fprintf(&b, " workflow tasks retrying by workflow type %s;", counts(r.TasksByType))
	}
	if len(r.ActivitiesByType) > 0 {
		fmt.Fprintf(&b, " activities retrying by activity type %s;", counts(r.ActivitiesByType))
	}
	for i, s := range r.Stuck {
		if i == 5 {
			fmt.Fprintf(&b, " …and %d more", len(r.Stuck)-5)
			break
		}
		fmt.Fprintf(&b, " %s (%s", s.WorkflowID, s.Type)
		if s.TaskAttempt > 0 {
			fmt.Fprintf(&b, ", workflow task attempt %d", s.TaskAttempt)
		}
		for _, at := range sortedKeys(s.Activities) {
			fmt.Fprintf(&b, ", activity %s attempt %d", at, s.Activities[at])
		}
		if s.LastFailure != "" {
			fmt.Fprintf(&b, ", last failure %q", s.LastFailure)
		}
		b.WriteString(");")
	}
	return invariant(NameStuck, mode, false, strings.TrimSuffix(b.String(), ";"))
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]int32) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
