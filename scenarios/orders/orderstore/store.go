// Package orderstore is the fake order store of the orders-batch scenario:
// the external system of record the workflows work against, and the ground
// truth the scenario's invariants are checked against.
//
// It runs inside the squall driver process (`squall run`), served over HTTP
// on loopback, so its state survives any worker-process kill. Workflows get
// its URL in their input and never carry orders in payloads: activities fetch
// a range [from,to) of a batch and apply it here.
//
// Orders are generated deterministically from a seed: order i has amount
// Amount(seed, i) and a failure class (none, transient, permanent). Applying
// is idempotent per order id, and every attempt is counted: an apply of an
// id that is already applied is a duplicate attempt, recorded (never hidden)
// and classified by who sent it — the same activity again (a retry: absorbed
// by idempotency) or anyone else (a double application: a bug the verifier
// must report).
package orderstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/fakes"
)

// Failure classes of an order.
const (
	ClassOK        = 0
	ClassTransient = 1 // the first apply attempt fails, later ones succeed
	ClassPermanent = 2 // every apply attempt fails
)

// Per-order apply outcomes, one byte per id in ApplyResponse.Status.
const (
	StatusApplied = 'a' // applied now
	// StatusMine: already applied by the same owner (a retried activity
	// re-sending it); a duplicate attempt, counted as such, whose effect
	// is the owner's own earlier one.
	StatusMine = 'r'
	// StatusDuplicate: already applied by a different owner: a double
	// application attempt.
	StatusDuplicate = 'd'
	StatusFailed    = 'f' // refused (failure class); may be retried
)

// Model is the deterministic order book: amounts and failure classes.
type Model struct {
	Seed          int64
	FailureRate   float64 // fraction of orders the store refuses on every attempt
	TransientRate float64 // fraction of orders refused on their first attempt only
}

func mix(x uint64) uint64 { // splitmix64 finaliser
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Amount of order id in cents: 1.00 to 999.99.
func (m Model) Amount(id int64) int64 {
	return 100 + int64(mix(uint64(m.Seed)*0x100000001b3^uint64(id))%99_900)
}

// Class returns the failure class of order id.
func (m Model) Class(id int64) int {
	u := float64(mix(mix(uint64(m.Seed)+0x5bd1e995)^uint64(id))>>11) / float64(1<<53)
	switch {
	case u < m.FailureRate:
		return ClassPermanent
	case u < m.FailureRate+m.TransientRate:
		return ClassTransient
	}
	return ClassOK
}

// Prediction is what processing orders [0,n) must end with when every order
// gets maxAttempts apply attempts.
type Prediction struct {
	Orders     int64 `json:"orders"`
	Successful int64 `json:"successful"`
	Failed     int64 `json:"failed"`
	Amount     int64 `json:"amount_cents"` // sum over the successful orders
}

// Predict computes the expected outcome from the model alone.
func (m Model) Predict(n int64, maxAttempts int) Prediction {
	p := Prediction{Orders: n}
	for id := range n {
		c := m.Class(id)
		if c == ClassPermanent || (c == ClassTransient && maxAttempts < 2) {
			p.Failed++
			continue
		}
		p.Successful++
		p.Amount += m.Amount(id)
	}
	return p
}

// Order is one order as the store hands it out.
type Order struct {
	ID     int64 `json:"id"`
	Amount int64 `json:"amount"`
}

// OrdersResponse answers GET /batches/{b}/orders?from=&to=.
type OrdersResponse struct {
	Orders []Order `json:"orders"`
}

// ApplyRequest is the body of POST /batches/{b}/apply.
type ApplyRequest struct {
	IDs []int64 `json:"ids"`
	// Owner names the logical operation applying the orders (workflow ID +
	// activity ID): stable across retries of one activity, different for
	// anything else.
	Owner   string `json:"owner"`
	Attempt int32  `json:"attempt"`
	// ScheduledMS and StartedMS are the activity attempt's schedule and
	// start times (unix ms); the store records the activity's latency from
	// them when the apply is done.
	ScheduledMS int64 `json:"scheduled_ms,omitempty"`
	StartedMS   int64 `json:"started_ms,omitempty"`
}

// ApplyResponse has one status byte per requested id (StatusApplied, ...).
type ApplyResponse struct {
	Status string `json:"status"`
}

// ReduceRequest is the body of POST /batches/{b}/reduce: the totals a
// mapreduce run's reduce step computed, recorded for the invariants.
type ReduceRequest struct {
	Successful int64 `json:"successful"`
	Failed     int64 `json:"failed"`
	Amount     int64 `json:"amount"`
	StartedMS  int64 `json:"started_ms,omitempty"`
}

// Observer receives latencies measured at the store (may be nil).
type Observer func(name string, d time.Duration)

// Store holds every batch of one run.
type Store struct {
	Model   Model
	observe Observer

	mu      sync.Mutex
	batches map[int64]*batch

	// faults are the api-errors / api-latency faults (SetFaults): a
	// refused request never reaches the store, so the ledger never sees it.
	faults *fakes.Faults
}

// ServiceName is the store's name for the api-errors and api-latency
// faults (api=orders.store).
const ServiceName = "orders.store"

// Name implements scenarios.APIControl.
func (s *Store) Name() string { return ServiceName }

// SetFaults implements scenarios.APIControl: from now on requests wait
// latency and errorRate of them (clamped to 0..1) are refused with 503;
// zero values heal.
func (s *Store) SetFaults(errorRate float64, latency time.Duration) {
	s.faults.SetFaults(errorRate, latency)
}

// Refused returns how many requests the faults refused so far.
func (s *Store) Refused() int64 { return s.faults.Refused() }

var _ scenarios.APIControl = (*Store)(nil)

// batch is one batch's ledger. Its per-order state is what proving
// exactly-once application needs and no more, so ten million orders fit in
// a few tens of megabytes: an attempt count (one byte) and an applied bit
// per order, and per owner a bitmap of the orders it applied over the span
// of ids it sent (an owner is one activity, which sends one contiguous
// range: the spans of a correct run tile the batch, one bit per order in
// all). Who applied an order is then a question to the owner at hand ("did
// you?"), never a per-order owner field.
type batch struct {
	mu       sync.Mutex
	n        int64
	attempts []uint8 // apply attempts per order, saturating at 255
	applied  bitmap  // applied, by anyone
	owners   map[string]*owner
	names    []string // owner names in order of first appearance
	amount   int64    // sum of applied amounts, accumulated at apply time
	count    int64    // orders applied
	requests int64    // apply requests
	fetches  int64
	// attemptsTotal sums the attempts (not saturating); maxAttempts is the
	// most any order got (saturating with the count).
	attemptsTotal, maxAttempts int64
	// duplicate attempts: by the owner that applied the order (a retry
	// re-sending it) and by anyone else (a double application)
	retryDups, foreignDups int64
	failedAttempts         int64
	badIDs                 int64 // ids outside [0,n) asked for
	foreignExamples        []string
	reduces                []ReduceRequest
}

// owner is one operation applying orders: the orders it applied, as a
// bitmap over [lo, lo+64*len(mine.w)).
type owner struct {
	lo   int64
	mine bitmap
}

// cover grows o's span to hold [from,to].
func (o *owner) cover(from, to int64) {
	if o.mine.w == nil {
		o.lo = from &^ 63
		o.mine.w = make([]uint64, (to-o.lo)/64+1)
		return
	}
	hi := o.lo + 64*int64(len(o.mine.w)) // exclusive
	if from >= o.lo && to < hi {
		return
	}
	lo := min(o.lo, from&^63)
	w := make([]uint64, (max(hi-1, to)-lo)/64+1)
	copy(w[(o.lo-lo)/64:], o.mine.w)
	o.lo, o.mine.w = lo, w
}

func (o *owner) has(id int64) bool { return o.mine.has(id - o.lo) }
func (o *owner) set(id int64)      { o.mine.set(id - o.lo) }

// bitmap is a set of small non-negative integers.
type bitmap struct{ w []uint64 }

func newBitmap(n int64) bitmap { return bitmap{w: make([]uint64, (n+63)/64)} }

func (b bitmap) has(i int64) bool {
	return i >= 0 && i/64 < int64(len(b.w)) && b.w[i/64]&(1<<(i%64)) != 0
}

func (b bitmap) set(i int64) { b.w[i/64] |= 1 << (i % 64) }

// New returns an empty store over model m; observe (may be nil) receives
// the per-activity latencies.
func New(m Model, observe Observer) *Store {
	return &Store{Model: m, observe: observe, batches: map[int64]*batch{}, faults: fakes.NewFaults(m.Seed)}
}

// Open creates batch b with n orders (ids 0..n-1). Opening an existing
// batch is an error: a batch is processed once per run.
func (s *Store) Open(b, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.batches[b]; ok {
		return fmt.Errorf("batch %d already open", b)
	}
	s.batches[b] = &batch{n: n, attempts: make([]uint8, n), applied: newBitmap(n), owners: map[string]*owner{}}
	return nil
}

func (s *Store) get(b int64) *batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches[b]
}

// ErrUnknownBatch is returned for a batch that was never opened.
var ErrUnknownBatch = errors.New("unknown batch")

// Orders returns orders [from,to) of batch b (clamped to the batch).
func (s *Store) Orders(b, from, to int64) ([]Order, error) {
	bt := s.get(b)
	if bt == nil {
		return nil, ErrUnknownBatch
	}
	bt.mu.Lock()
	bt.fetches++
	bt.mu.Unlock()
	from, to = max(from, 0), min(to, bt.n)
	out := make([]Order, 0, max(to-from, 0))
	for id := from; id < to; id++ {
		out = append(out, Order{ID: id, Amount: s.Model.Amount(id)})
	}
	return out, nil
}

// Apply applies ids of batch b on behalf of owner and returns one status
// byte per id. Every id counts as one attempt.
func (s *Store) Apply(b int64, req ApplyRequest) (string, error) {
	bt := s.get(b)
	if bt == nil {
		return "", ErrUnknownBatch
	}
	if req.Owner == "" {
		return "", errors.New("apply without owner")
	}
	status := make([]byte, len(req.IDs))
	bt.mu.Lock()
	bt.requests++
	own := bt.owners[req.Owner]
	if own == nil {
		own = &owner{}
		bt.owners[req.Owner] = own
		bt.names = append(bt.names, req.Owner)
	}
	if lo, hi, ok := span(req.IDs, bt.n); ok {
		own.cover(lo, hi)
	}
	for i, id := range req.IDs {
		if id < 0 || id >= bt.n {
			bt.badIDs++
			status[i] = StatusFailed
			continue
		}
		prev := bt.attempts[id]
		if prev < 0xff {
			bt.attempts[id]++
			bt.maxAttempts = max(bt.maxAttempts, int64(prev)+1)
		}
		bt.attemptsTotal++
		if bt.applied.has(id) {
			if own.has(id) {
				status[i] = StatusMine
				bt.retryDups++
			} else {
				status[i] = StatusDuplicate
				bt.foreignDups++
				if len(bt.foreignExamples) < 5 {
					bt.foreignExamples = append(bt.foreignExamples, fmt.Sprintf("batch %d order %d by %s", b, id, req.Owner))
				}
			}
			continue
		}
		c := s.Model.Class(id)
		if c == ClassPermanent || (c == ClassTransient && prev == 0) {
			bt.failedAttempts++
			status[i] = StatusFailed
			continue
		}
		bt.applied.set(id)
		own.set(id)
		bt.count++
		bt.amount += s.Model.Amount(id)
		status[i] = StatusApplied
	}
	bt.mu.Unlock()
	if s.observe != nil && req.StartedMS > 0 {
		now := time.Now()
		s.observe("activity", now.Sub(time.UnixMilli(req.StartedMS)))
		if req.ScheduledMS > 0 && req.Attempt <= 1 {
			s.observe("activity-schedule-to-start", time.UnixMilli(req.StartedMS).Sub(time.UnixMilli(req.ScheduledMS)))
		}
	}
	return string(status), nil
}

// span is the smallest and largest of ids within [0,n); ok is false when
// there is none.
func span(ids []int64, n int64) (lo, hi int64, ok bool) {
	for _, id := range ids {
		if id < 0 || id >= n {
			continue
		}
		if !ok {
			lo, hi, ok = id, id, true
		}
		lo, hi = min(lo, id), max(hi, id)
	}
	return lo, hi, ok
}

// Reduce records a reduce step's totals for batch b.
func (s *Store) Reduce(b int64, r ReduceRequest) error {
	bt := s.get(b)
	if bt == nil {
		return ErrUnknownBatch
	}
	bt.mu.Lock()
	bt.reduces = append(bt.reduces, r)
	bt.mu.Unlock()
	if s.observe != nil && r.StartedMS > 0 {
		s.observe("activity", time.Since(time.UnixMilli(r.StartedMS)))
	}
	return nil
}

// Ledger is the store's own record of one batch.
type Ledger struct {
	Batch  int64 `json:"batch,omitempty"`
	Orders int64 `json:"orders"`
	// Applied orders (each applied exactly once in effect) and the sum of
	// their amounts, accumulated as they were applied.
	Applied int64 `json:"applied"`
	Amount  int64 `json:"amount_cents"`
	// Failed: attempted, never applied. NeverAttempted: no apply ever seen.
	Failed         int64 `json:"failed"`
	NeverAttempted int64 `json:"never_attempted"`
	// Attempts counts every apply attempt of every order.
	Attempts       int64 `json:"attempts"`
	FailedAttempts int64 `json:"failed_attempts"`
	MaxAttempts    int64 `json:"max_attempts_per_order"`
	ApplyRequests  int64 `json:"apply_requests"`
	Fetches        int64 `json:"fetches"`
	// RetryDuplicates: the owner that applied an order sent it again (a
	// retried activity; absorbed by idempotency). ForeignDuplicates:
	// someone else applied an already-applied order (a double application).
	RetryDuplicates   int64           `json:"retry_duplicates"`
	ForeignDuplicates int64           `json:"foreign_duplicates"`
	ForeignExamples   []string        `json:"foreign_examples,omitempty"`
	BadIDs            int64           `json:"bad_ids"`
	Reduces           []ReduceRequest `json:"reduces,omitempty"`
	// Misapplied: orders the model says must fail that were applied anyway
	// (cannot happen unless the store is broken; checked all the same).
	Misapplied int64 `json:"misapplied"`
}

// Ledger returns batch b's record; ok is false for an unknown batch.
func (s *Store) Ledger(b int64) (Ledger, bool) {
	bt := s.get(b)
	if bt == nil {
		return Ledger{}, false
	}
	bt.mu.Lock()
	defer bt.mu.Unlock()
	l := Ledger{Batch: b, Orders: bt.n, Applied: bt.count, Amount: bt.amount, FailedAttempts: bt.failedAttempts,
		Attempts: bt.attemptsTotal, MaxAttempts: bt.maxAttempts,
		ApplyRequests: bt.requests, Fetches: bt.fetches, RetryDuplicates: bt.retryDups,
		ForeignDuplicates: bt.foreignDups, ForeignExamples: append([]string(nil), bt.foreignExamples...),
		BadIDs: bt.badIDs, Reduces: append([]ReduceRequest(nil), bt.reduces...)}
	for id := range bt.n {
		switch {
		case bt.attempts[id] == 0:
			l.NeverAttempted++
		case !bt.applied.has(id):
			l.Failed++
		case s.Model.Class(id) == ClassPermanent:
			l.Misapplied++
		}
	}
	return l, true
}

// Owners lists who applied orders of batch b (or tried to).
func (s *Store) Owners(b int64) []string {
	bt := s.get(b)
	if bt == nil {
		return nil
	}
	bt.mu.Lock()
	defer bt.mu.Unlock()
	return append([]string(nil), bt.names...)
}

// Batches lists the open batches.
func (s *Store) Batches() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int64, 0, len(s.batches))
	for b := range s.batches {
		out = append(out, b)
	}
	return out
}

// Handler serves the store's HTTP API.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /batches/{b}/orders", func(w http.ResponseWriter, r *http.Request) {
		b, err := strconv.ParseInt(r.PathValue("b"), 10, 64)
		if err != nil {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		q := r.URL.Query()
		from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
		to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
		if err1 != nil || err2 != nil {
			http.Error(w, "bad from/to", http.StatusBadRequest)
			return
		}
		orders, err := s.Orders(b, from, to)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, OrdersResponse{Orders: orders})
	})
	mux.HandleFunc("POST /batches/{b}/apply", func(w http.ResponseWriter, r *http.Request) {
		b, err := strconv.ParseInt(r.PathValue("b"), 10, 64)
		if err != nil {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		var req ApplyRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad body: "+err.Error(), http.StatusBadRequest)
			return
		}
		st, err := s.Apply(b, req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, ApplyResponse{Status: st})
	})
	mux.HandleFunc("POST /batches/{b}/reduce", func(w http.ResponseWriter, r *http.Request) {
		b, err := strconv.ParseInt(r.PathValue("b"), 10, 64)
		if err != nil {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		var req ReduceRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.Reduce(b, req); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return s.faults.Middleware(mux)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Server is a Store served on loopback.
type Server struct {
	URL string
	srv *http.Server
	ln  net.Listener
}

// Serve starts serving s on 127.0.0.1 on an ephemeral port.
func Serve(s *Store) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("order store: listen: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &Server{URL: "http://" + ln.Addr().String(), srv: srv, ln: ln}, nil
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
