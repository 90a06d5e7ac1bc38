// Package degradation is the graceful-degradation scenario: each iteration is a workflow answering a series of
// requests through a circuit breaker (closed / open / half-open, in
// deterministic workflow code, see Breaker) and the fallback chain primary
// -> secondary -> static answer.
//
// The primary and secondary are fake services (package fakes) in the
// driver process, named "degradation.primary" and "degradation.secondary",
// with configurable failure rate and latency, switchable during a run:
// the scenario's own outage (outage-start, outage-duration, outage-target),
// placed within the load that will actually run, switches them with
// fakes.Service.SetMode, and the api-errors / api-latency faults reach
// them through the driver's APIs(). What the services were asked is the
// ground truth of the invariants: each workflow's answers are checked
// against it as the workflow completes, so the driver's memory holds only
// the workflows in flight.
package degradation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/fakes"
)

// Name is the scenario's registry name.
const Name = "degradation"

// Outage targets.
const (
	TargetPrimary   = "primary"
	TargetSecondary = "secondary"
	TargetBoth      = "both"
)

// Auto is the outage-start that places the outage within the run.
const Auto = "auto"

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "requests answered through a circuit breaker and the fallback chain primary -> secondary -> static, " +
			"against fake services with switchable failure rate and latency; the services' own logs prove the breaker stopped calling the primary",
		Proves: "the outage (15 s, placed automatically inside the load) makes the primary fail: breakers open, requests are " +
			"answered by the fallback chain, the primary's own log shows no calls while open, and breakers close after it recovers",
		Options: []scenarios.Option{
			{Name: "requests", Kind: scenarios.Int, Default: "20", Min: scenarios.MinOf(1), Help: "requests per workflow (one workflow per iteration)"},
			{Name: "interval", Kind: scenarios.Duration, Default: "1s", Min: scenarios.MinOf(0), Help: "workflow timer between a workflow's requests"},
			{Name: "failure-threshold", Kind: scenarios.Int, Default: "5", Min: scenarios.MinOf(1), Help: "consecutive primary failures that open the breaker"},
			{Name: "open-timeout", Kind: scenarios.Duration, Default: "5s", Min: scenarios.MinOf(0.001),
				Help: "an open breaker lets probes through this long after the last failure (production breakers often wait 60s; shorter here so a run sees several cycles)"},
			{Name: "half-open-successes", Kind: scenarios.Int, Default: "2", Min: scenarios.MinOf(1), Help: "successful probes that close a half-open breaker"},
			{Name: "primary-timeout", Kind: scenarios.Duration, Default: "2s", Min: scenarios.MinOf(0.001), Help: "primary call start-to-close timeout (one attempt)"},
			{Name: "secondary-timeout", Kind: scenarios.Duration, Default: "2s", Min: scenarios.MinOf(0.001), Help: "secondary call start-to-close timeout"},
			{Name: "secondary-attempts", Kind: scenarios.Int, Default: "2", Min: scenarios.MinOf(1), Help: "secondary call attempts"},
			{Name: "primary-error-rate", Kind: scenarios.Float, Default: "0", Min: scenarios.MinOf(0), Help: "fraction of primary requests answered 503 outside outages"},
			{Name: "primary-latency", Kind: scenarios.Duration, Default: "20ms", Min: scenarios.MinOf(0), Help: "primary answer time"},
			{Name: "secondary-error-rate", Kind: scenarios.Float, Default: "0", Min: scenarios.MinOf(0), Help: "fraction of secondary requests answered 503 outside outages"},
			{Name: "secondary-latency", Kind: scenarios.Duration, Default: "20ms", Min: scenarios.MinOf(0), Help: "secondary answer time"},
			{Name: "outage-start", Kind: scenarios.String, Default: Auto,
				Help: "after the first iteration starts, the outage target fails 100% (a duration, or auto: placed so the run's workflows see the breaker open and close again)..."},
			{Name: "outage-duration", Kind: scenarios.Duration, Default: "15s", Min: scenarios.MinOf(0), Help: "...for this long, then recovers (0: no outage)"},
			{Name: "outage-target", Kind: scenarios.Enum, Default: TargetPrimary, Choices: []string{TargetPrimary, TargetSecondary, TargetBoth},
				Help: "which service the outage takes down"},
			{Name: "seed", Kind: scenarios.Int, Default: "1", Help: "seed of the services' failure draws"},
		},
		// One workflow a second, each twenty requests a second apart: some
		// twenty workflows in flight, well within this machine's server,
		// and long enough for the outage to open and close breakers.
		// Grace covers a workflow whose every call times out.
		Defaults: scenarios.Defaults{Rate: "1/s", Duration: 30 * time.Second, Grace: 2 * time.Minute},
		Validate: func(o scenarios.Values, l scenarios.Load) error { _, err := configure(o, l); return err },
		Register: Register,
		New:      newDriver,
	})
}

type mode struct {
	errorRate float64
	latency   time.Duration
}

type driver struct {
	env       scenarios.Env
	in        Input
	primary   *fakes.Service
	secondary *fakes.Service
	base      map[*fakes.Service]mode

	outage outage
	once   sync.Once
	timers []*time.Timer

	t *tally
}

// configure checks the options against the load and places the outage
// (no side effects: it is also the scenario's Validate, run before any
// server starts).
func configure(o scenarios.Values, l scenarios.Load) (*driver, error) {
	d := &driver{base: map[*fakes.Service]mode{}}
	d.in = Input{
		Requests: int(o.Int("requests")), Interval: o.Duration("interval"),
		Breaker: BreakerConfig{FailureThreshold: int(o.Int("failure-threshold")), OpenTimeout: o.Duration("open-timeout"),
			HalfOpenSuccesses: int(o.Int("half-open-successes"))},
		PrimaryTimeout: o.Duration("primary-timeout"), SecondaryTimeout: o.Duration("secondary-timeout"),
		SecondaryAttempts: int32(o.Int("secondary-attempts")),
	}
	var problems []string
	for _, k := range []string{"primary-error-rate", "secondary-error-rate"} {
		if o.Float(k) > 1 {
			problems = append(problems, k+" must be at most 1 (100%)")
		}
	}
	if err := d.in.Breaker.Check(); err != nil {
		problems = append(problems, err.Error())
	}
	var err error
	if d.outage, err = placeOutage(o.String("outage-start"), o.Duration("outage-duration"), o.String("outage-target"), d.in, l); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return d, nil
}

func newDriver(_ context.Context, env scenarios.Env, o scenarios.Values) (_ scenarios.Driver, err error) {
	d, err := configure(o, env.Load)
	if err != nil {
		return nil, err
	}
	d.env = env
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	d.t = newTally(d.in, Name+"-"+env.RunID+"-")
	seed := o.Int("seed")
	pm := mode{o.Float("primary-error-rate"), o.Duration("primary-latency")}
	sm := mode{o.Float("secondary-error-rate"), o.Duration("secondary-latency")}
	if d.primary, err = fakes.Start(fakes.Config{Name: Name + ".primary", ErrorRate: pm.errorRate, Latency: pm.latency, Seed: seed,
		OnRequest: d.t.primaryRequest}); err != nil {
		return nil, err
	}
	if d.secondary, err = fakes.Start(fakes.Config{Name: Name + ".secondary", ErrorRate: sm.errorRate, Latency: sm.latency, Seed: seed + 1,
		OnRequest: d.t.secondaryRequest}); err != nil {
		return nil, err
	}
	d.base[d.primary], d.base[d.secondary] = pm, sm
	d.in.PrimaryURL, d.in.SecondaryURL = d.primary.URL, d.secondary.URL
	return d, nil
}

func (d *driver) outageServices() []*fakes.Service {
	switch d.outage.target {
	case TargetSecondary:
		return []*fakes.Service{d.secondary}
	case TargetBoth:
		return []*fakes.Service{d.primary, d.secondary}
	}
	return []*fakes.Service{d.primary}
}

// scheduleOutage arms the outage relative to the first iteration.
func (d *driver) scheduleOutage() {
	d.t.begin(time.Now())
	if d.outage.dur <= 0 {
		return
	}
	d.timers = append(d.timers,
		time.AfterFunc(d.outage.start, func() {
			for _, s := range d.outageServices() {
				_ = s.SetMode(1, d.base[s].latency)
			}
			d.t.outageBegan(time.Now())
		}),
		time.AfterFunc(d.outage.start+d.outage.dur, func() {
			d.t.outageEnded(time.Now())
			for _, s := range d.outageServices() {
				b := d.base[s]
				_ = s.SetMode(b.errorRate, b.latency)
			}
		}))
}

// WorkflowID names iteration n of a run.
func WorkflowID(runID string, n int64) string { return fmt.Sprintf("%s-%s-%d", Name, runID, n) }

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	d.once.Do(d.scheduleOutage)
	id := WorkflowID(d.env.RunID, it.N)
	run, err := d.env.Start(ctx, scenarios.StartSpec{ID: id, Workflow: WorkflowName, Args: []any{d.in}})
	if err != nil {
		d.t.abandon(id) // it may have started all the same
		return err
	}
	var res Result
	if err := scenarios.Await(ctx, run, &res); err != nil {
		d.t.abandon(id)
		return err
	}
	d.t.judge(id, res)
	for _, a := range res.Answers {
		d.env.Observe("answer."+a.Source, a.Done.Sub(a.At))
	}
	return nil
}

// APIs are the two services, for the api-errors and api-latency faults.
func (d *driver) APIs() []scenarios.APIControl {
	var out []scenarios.APIControl
	for _, s := range []*fakes.Service{d.primary, d.secondary} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (d *driver) Close() error {
	for _, t := range d.timers {
		t.Stop()
	}
	var errs []error
	for _, s := range []*fakes.Service{d.primary, d.secondary} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
