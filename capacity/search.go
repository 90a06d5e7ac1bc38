// Package capacity finds the highest rate a cluster sustains within an
// SLO, with a band that says how sure that is, and what ran out first.
// Sustainable means held without latency or backlog growing: a probe at
// a rate passes when, over its steady part, the SLO holds, throughput
// keeps up with the offered rate, few starts are late, and the work in
// flight is not piling up.
//
// A machine drifts: the same rate passes at one moment and fails ten
// minutes later. So the search does not trust the order it probes in. It
// brackets the knee once, then probes candidate rates around it in a
// randomized, interleaved order, round after round, so that drift over
// time no longer correlates with rate; a canary probe at a fixed rate
// re-runs every few probes and measures the machine itself; and a
// monotone fit over every probe, bootstrapped, gives the sustainable rate
// and its band (fit.go).
//
// The search is a pure function of its prober and its clock, so it is
// tested against simulated systems; the squall capacity command probes a
// real cluster.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
)

// Prober runs one probe.
type Prober interface {
	Probe(ctx context.Context, t Task) (Probe, error)
}

// Task is one probe the search asks for.
type Task struct {
	Rate   float64 // offered, per second
	Phase  string  // PhaseBracket, PhaseInterleaved or PhaseCanary
	Search int     // which search (1-based); 0: the canary
	N      int     // the probe's number in the whole run, 1-based
}

// Search says how to look for the knee.
type Search struct {
	Start float64 // first rate probed (after the warm-up)
	Max   float64 // highest rate probed
	// Growth is the factor between rates while stepping up (default 2);
	// Narrow: the bracket is then bisected until its first failing rate is
	// at most this factor above its last passing one (default 1.2).
	Growth, Narrow float64
	// Candidates is how many rates around the bracket are interleaved
	// (default 4); each round probes each once, in a shuffled order.
	Candidates int
	// Rounds of interleaved probes (default 3). With a Budget, the most
	// rounds (0: as many as the budget allows).
	Rounds int
	// CanaryEvery: the canary re-runs after this many other probes
	// (default 5; negative: no canary).
	CanaryEvery int
	// Repeat whole searches, interleaved probe by probe (default 1).
	Repeat int
	// Seed of the order of the interleaved probes and of the bootstrap.
	Seed uint64
	// Budget bounds the search's time: a round starts only when it is
	// expected to end within it. 0: Rounds rounds, however long.
	Budget time.Duration
	// Resolution: with a Budget, the search stops early once the band's
	// half width is within this share of the rate (default 0.05).
	Resolution float64
	// Confidence of the band (default 0.9).
	Confidence float64
	// Now is the clock the budget is measured on (default time.Now).
	Now func() time.Time
}

func (s Search) withDefaults() Search {
	if s.Growth <= 1 {
		s.Growth = 2
	}
	if s.Narrow <= 1 {
		s.Narrow = 1.2
	}
	if s.Candidates <= 0 {
		s.Candidates = 4
	}
	if s.Rounds <= 0 && s.Budget == 0 {
		s.Rounds = 3
	}
	if s.Rounds <= 0 {
		s.Rounds = maxRounds
	}
	if s.CanaryEvery == 0 {
		s.CanaryEvery = 5
	}
	if s.Repeat <= 0 {
		s.Repeat = 1
	}
	if s.Resolution <= 0 {
		s.Resolution = 0.05
	}
	if s.Confidence <= 0 || s.Confidence >= 1 {
		s.Confidence = 0.9
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

const (
	maxRounds = 50
	// maxGrid bounds the candidates a search may grow to, as the grid
	// follows a knee at its edge or refines the gap around it.
	maxGrid = 9
	// maxProbes guards against a search that cannot settle (per search).
	maxProbes = 200
)

// ErrTooManyProbes guards against a search that cannot settle.
var ErrTooManyProbes = errors.New("capacity search did not settle within its probe budget")

// DriftFlag is the canary drift at and above which a report says, at its
// top, that the machine drifted.
const DriftFlag = 0.10

// Result is what the search found: over all searches' probes (pooled),
// and per search.
type Result struct {
	Estimate // pooled over every counted probe
	// LastPass, FirstFail: the first search's bracket (FirstFail 0: even
	// Max passed).
	LastPass, FirstFail float64
	Probes              []Probe  // in the order run
	Searches            []Answer // each search's own answer
	Canary              Canary
	Seed                uint64
	Rounds              int    // interleaved rounds completed, the fewest of any search
	Stopped             string // why the search ended
	Used, Dropped       int    // probes fitted, probes left out
	// Saturation: what ran out first, with the evidence, most telling first.
	Saturation []Finding
	Analysis   *Analysis // the pooled fit, for curves and inverse questions
}

// Answer is one search's own answer.
type Answer struct {
	Search    int     `json:"search"`
	Found     bool    `json:"found"`
	Rate      float64 `json:"max_sustainable_per_s"`
	Band      Band    `json:"band"`
	AtLeast   bool    `json:"at_least,omitempty"`
	LastPass  float64 `json:"last_pass_per_s"`
	FirstFail float64 `json:"first_fail_per_s,omitempty"`
	Rounds    int     `json:"rounds"`
	Probes    int     `json:"probes"`
	Stopped   string  `json:"stopped"`
}

// Canary is the fixed reference probe: its rate, and how far its median
// latency moved over the search.
type Canary struct {
	Rate   float64 `json:"offered_per_s"`
	Probes int     `json:"probes"`
	Drift  float64 `json:"drift"` // (max − min) / median of its p50, a share
}

// searcher is one search's state: the bracket, then rounds over a grid
// of candidate rates.
type searcher struct {
	id                  int
	cfg                 Search
	lastPass, firstFail float64
	next                float64 // the next bracket rate (0: bracket done)
	bracketDone         bool
	votes               []bool // a stepping rate's verdicts so far, while a fail is being confirmed
	notFound            bool   // the start rate failed
	grid                []float64
	queue               []float64 // the current round's rates still to probe
	inRound             bool
	rounds              int
	probes              []Probe
	stopped             string
}

func newSearcher(id int, cfg Search) *searcher {
	return &searcher{id: id, cfg: cfg, next: cfg.Start}
}

func (x *searcher) done() bool { return x.stopped != "" }

// observeBracket takes a bracket probe's verdict: step up until a rate
// fails, then bisect (geometrically: rates span decades) until narrow. A
// fail while stepping up (the start rate's too) is confirmed first, two
// of three probes at that rate: one cold or unlucky probe must not end the
// stepping a factor of Growth too low, where the rounds around it could
// not reach the knee. A fail while bisecting is not: the candidates reach
// beyond the bracket, and the rounds correct it.
func (x *searcher) observeBracket(p Probe) {
	r := p.Rate
	stepping := x.firstFail == 0
	if stepping && (!p.Pass || len(x.votes) > 0) {
		x.votes = append(x.votes, p.Pass)
		fails := 0
		for _, v := range x.votes {
			if !v {
				fails++
			}
		}
		switch {
		case fails >= 2:
			x.votes = nil // confirmed: the first failing rate
		case len(x.votes)-fails >= 2:
			x.votes, p.Pass = nil, true // outvoted: the rate passed
		default:
			return // x.next stays: the same rate again
		}
	}
	switch {
	case p.Pass:
		x.lastPass = r
	case x.lastPass == 0:
		x.notFound, x.firstFail = true, r
		x.next, x.bracketDone, x.stopped = 0, true, fmt.Sprintf("even the start rate %s failed", bench.ShowRate(r))
		return
	default:
		x.firstFail = r
	}
	switch {
	case x.firstFail == 0 && x.lastPass >= x.cfg.Max:
		x.next = 0
	case x.firstFail == 0:
		x.next = math.Min(x.lastPass*x.cfg.Growth, x.cfg.Max)
	case x.firstFail/x.lastPass > x.cfg.Narrow:
		x.next = math.Sqrt(x.lastPass * x.firstFail)
	default:
		x.next = 0
	}
	if x.next == 0 {
		x.bracketDone = true
		x.grid = x.initialGrid()
	}
}

// initialGrid spreads the candidates geometrically over the bracket,
// widened by half its width on each side: the bracket came from single
// probes in time order, so the knee may lie a little outside it.
func (x *searcher) initialGrid() []float64 {
	k := x.cfg.Candidates
	w := math.Sqrt(x.cfg.Narrow)
	lo, hi := x.lastPass/w, x.firstFail*w
	if x.firstFail == 0 { // even Max passed: look just below it
		lo, hi = x.cfg.Max/(x.cfg.Narrow*x.cfg.Narrow), x.cfg.Max
	}
	lo, hi = math.Max(lo, x.cfg.Start), math.Min(hi, x.cfg.Max)
	if k == 1 || hi <= lo {
		return []float64{roundRate(math.Sqrt(lo * hi))}
	}
	var g []float64
	step := math.Pow(hi/lo, 1/float64(k-1))
	for i := range k {
		g = append(g, roundRate(lo*math.Pow(step, float64(i))))
	}
	return slices.Compact(g)
}

// roundRate keeps three significant digits: rates people can read and
// type again (41.7/s, not 41.6874/s).
func roundRate(r float64) float64 {
	if r <= 0 {
		return r
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(r)))
	return math.Round(r*p) / p
}

// adapt moves the grid after a round, from the fit over the search's
// probes so far. Where the grid's lowest rate failed in more than a fifth
// of its probes (or its highest passed in more than a fifth), part of the
// knee lies beyond it: a candidate one step further out follows it.
// Otherwise, a knee in a gap wider than twice the resolution gets a
// candidate in the gap's middle. Later rounds probe the new rates too.
func (x *searcher) adapt(a *Analysis) {
	if len(x.grid) >= maxGrid || len(a.groups) == 0 {
		return
	}
	step := x.cfg.Narrow
	if len(x.grid) > 1 {
		step = math.Pow(x.grid[len(x.grid)-1]/x.grid[0], 1/float64(len(x.grid)-1))
	}
	add := func(r float64) bool {
		r = roundRate(r)
		if r < x.cfg.Start || r > x.cfg.Max || slices.Contains(x.grid, r) {
			return false
		}
		x.grid = append(x.grid, r)
		slices.Sort(x.grid)
		return true
	}
	pass := a.PassShare()
	share := func(rate float64) float64 {
		return pass[slices.IndexFunc(a.groups, func(g rateGroup) bool { return g.rate == rate })]
	}
	lo, hi := x.grid[0], x.grid[len(x.grid)-1]
	below, above := 1-share(lo), share(hi)
	switch {
	case below > 0.2 && below >= above && add(lo/step):
	case above > 0.2 && add(hi*step):
	default:
		if e := a.Sustainable(); e.Found && !e.AtLeast {
			if glo, ghi := a.gap(e.Rate); ghi/glo > 1+2*x.cfg.Resolution {
				add(math.Sqrt(glo * ghi))
			}
		}
	}
}

// Run searches: Repeat searches, their probes interleaved one by one,
// and the canary every CanaryEvery probes once the first bracket is
// known. The result is the pooled fit and each search's own.
func (s Search) Run(ctx context.Context, p Prober) (Result, error) {
	s = s.withDefaults()
	if s.Start <= 0 || s.Max < s.Start {
		return Result{}, fmt.Errorf("capacity: bad rates: start %g, max %g", s.Start, s.Max)
	}
	r := &run{cfg: s, p: p, began: s.Now(), order: rand.New(rand.NewPCG(s.Seed, 0x0bde))}
	for i := range s.Repeat {
		r.xs = append(r.xs, newSearcher(i+1, s))
	}
	err := r.loop(ctx)
	return r.result(), err
}

// run is one invocation's state: the searches, the canary, the clock.
type run struct {
	cfg         Search
	p           Prober
	began       time.Time
	order       *rand.Rand
	xs          []*searcher
	turn        int // round-robin position
	probes      []Probe
	canaryRate  float64
	canaries    []Probe
	sinceCanary int
}

func (r *run) loop(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			r.stopAll("interrupted")
			return err
		}
		t, x, ok := r.nextTask()
		if !ok {
			if r.canaryOn() && len(r.probes) > 0 && r.probes[len(r.probes)-1].Phase != PhaseCanary {
				// A last canary, so that the canary spans the whole search.
				if _, err := r.probe(ctx, Task{Rate: r.canaryRate, Phase: PhaseCanary}, nil); err != nil {
					return err
				}
			}
			return nil
		}
		if _, err := r.probe(ctx, t, x); err != nil {
			r.stopAll("error: " + err.Error())
			return err
		}
	}
}

func (r *run) canaryOn() bool { return r.cfg.CanaryEvery > 0 && r.canaryRate > 0 }

// nextTask picks the next probe: the canary when due, else the next
// search in turn that has a probe to run (starting a new round for one
// whose round is over, when the rounds and the budget allow).
func (r *run) nextTask() (Task, *searcher, bool) {
	if r.canaryOn() && (len(r.canaries) == 0 || r.sinceCanary >= r.cfg.CanaryEvery) && r.anyActive() {
		return Task{Rate: r.canaryRate, Phase: PhaseCanary}, nil, true
	}
	for range r.xs {
		x := r.xs[r.turn%len(r.xs)]
		r.turn++
		if x.done() {
			continue
		}
		if !x.bracketDone {
			return Task{Rate: x.next, Phase: PhaseBracket, Search: x.id}, x, true
		}
		if len(x.queue) == 0 && !r.newRound(x) {
			continue
		}
		rate := x.queue[0]
		x.queue = x.queue[1:]
		return Task{Rate: rate, Phase: PhaseInterleaved, Search: x.id}, x, true
	}
	return Task{}, nil, false
}

func (r *run) anyActive() bool {
	return slices.ContainsFunc(r.xs, func(x *searcher) bool { return !x.done() })
}

// newRound ends x's round and starts the next one if it may: fewer than
// Rounds done, the budget (if any) expected to hold the whole round, and
// (with a budget) the band not yet within the resolution.
func (r *run) newRound(x *searcher) bool {
	if x.inRound {
		x.rounds++
		x.inRound = false
		x.adapt(analyze(r.own(x), r.cfg.Confidence, r.cfg.Seed, 0))
	}
	switch {
	case x.rounds >= r.cfg.Rounds:
		x.stopped = plural(x.rounds, "interleaved round")
		if r.cfg.Budget > 0 {
			x.stopped += " (the most asked for)"
		}
		return false
	case r.cfg.Budget > 0:
		if x.rounds >= 2 {
			a := Analyze(r.own(x), r.cfg.Confidence, r.cfg.Seed)
			if e := a.Sustainable(); e.Found && !e.AtLeast && e.Band.HalfWidth(e.Rate) <= r.cfg.Resolution {
				x.stopped = fmt.Sprintf("band within ±%s after %s", pct(r.cfg.Resolution), plural(x.rounds, "interleaved round"))
				return false
			}
		}
		if !r.fits(len(x.grid)) {
			x.stopped = fmt.Sprintf("budget %s: %s fit", r.cfg.Budget, plural(x.rounds, "interleaved round"))
			if x.rounds == 0 {
				x.stopped = fmt.Sprintf("budget %s: no interleaved round fit after the bracket; the band rests on the bracket's probes", r.cfg.Budget)
			}
			return false
		}
	}
	x.queue, x.inRound = slices.Clone(x.grid), true
	r.order.Shuffle(len(x.queue), func(i, j int) { x.queue[i], x.queue[j] = x.queue[j], x.queue[i] })
	return true
}

// fits: n more probes (and the canaries among them), with every other
// search's rest of its round, are expected to end within the budget, at
// the mean time a probe took so far.
func (r *run) fits(n int) bool {
	if len(r.probes) == 0 {
		return true
	}
	elapsed := r.cfg.Now().Sub(r.began)
	per := elapsed / time.Duration(len(r.probes))
	for _, y := range r.xs {
		n += len(y.queue)
	}
	if r.canaryOn() {
		n += n/r.cfg.CanaryEvery + 1
	}
	return elapsed+per*time.Duration(n) <= r.cfg.Budget
}

// own is what one search's fit sees: its probes and the canary's.
func (r *run) own(x *searcher) []Probe {
	return append(slices.Clone(x.probes), r.canaries...)
}

func (r *run) probe(ctx context.Context, t Task, x *searcher) (Probe, error) {
	if x != nil && len(x.probes) >= maxProbes {
		return Probe{}, ErrTooManyProbes
	}
	t.N = len(r.probes) + 1
	pr, err := r.p.Probe(ctx, t)
	if err != nil {
		return Probe{}, err
	}
	pr.Rate, pr.Phase, pr.Search = t.Rate, t.Phase, t.Search
	r.probes = append(r.probes, pr)
	if x == nil {
		r.canaries = append(r.canaries, pr)
		r.sinceCanary = 0
		return pr, nil
	}
	r.sinceCanary++
	x.probes = append(x.probes, pr)
	if t.Phase == PhaseBracket {
		x.observeBracket(pr)
		if x.bracketDone && r.canaryRate == 0 && !x.notFound {
			// Half the first failing rate: well below the knee, where the
			// canary itself passes, yet loaded enough that a slower machine
			// shows in its latency.
			r.canaryRate = roundRate(x.cfg.Max / 2)
			if x.firstFail > 0 {
				r.canaryRate = roundRate(x.firstFail / 2)
			}
		}
	}
	return pr, nil
}

func (r *run) stopAll(why string) {
	for _, x := range r.xs {
		if !x.done() {
			x.stopped = why
		}
	}
}

func (r *run) result() Result {
	res := Result{Probes: r.probes, Seed: r.cfg.Seed, Canary: Canary{Rate: r.canaryRate, Probes: len(r.canaries)}}
	drift, ok := Drift(r.canaries)
	if ok {
		res.Canary.Drift = drift
	}
	if len(r.xs) > 0 {
		res.LastPass, res.FirstFail = r.xs[0].lastPass, r.xs[0].firstFail
	}
	res.Rounds = math.MaxInt
	var why []string
	for _, x := range r.xs {
		e, _ := Refit(r.own(x), r.cfg.Confidence, r.cfg.Seed+uint64(x.id))
		res.Searches = append(res.Searches, Answer{Search: x.id, Found: e.Found && !x.notFound, Rate: e.Rate, Band: e.Band, AtLeast: e.AtLeast,
			LastPass: x.lastPass, FirstFail: x.firstFail, Rounds: x.rounds, Probes: len(x.probes), Stopped: x.stopped})
		res.Rounds = min(res.Rounds, x.rounds)
		if !slices.Contains(why, x.stopped) {
			why = append(why, x.stopped)
		}
	}
	if res.Rounds == math.MaxInt {
		res.Rounds = 0
	}
	res.Stopped = strings.Join(why, "; ")
	res.Estimate, res.Analysis = Refit(r.probes, r.cfg.Confidence, r.cfg.Seed)
	if len(r.xs) > 0 && r.xs[0].notFound && len(r.xs) == 1 {
		res.Found, res.Rate = false, 0
	}
	res.Used, res.Dropped = res.Analysis.Used, res.Analysis.Dropped
	res.Saturation = Attribute(r.probes)
	return res
}

// Refit is the answer from probes as a search leaves them (their
// phases, what was excluded): the fit over every counted probe, its
// bootstrap band with the seed, widened by the drift of the canary probes
// among them.
func Refit(ps []Probe, confidence float64, seed uint64) (Estimate, *Analysis) {
	a := Analyze(ps, confidence, seed)
	e := a.Sustainable()
	var canary []Probe
	for _, p := range ps {
		if p.Phase == PhaseCanary {
			canary = append(canary, p)
		}
	}
	if drift, ok := Drift(canary); ok && e.Found {
		e.Band = e.Band.widen(e.Rate, drift)
	}
	return e, a
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func pct(f float64) string { return fmt.Sprintf("%.0f %%", f*100) }
