package throttled

import "sync"

// calls counts the API's successes per call key while the caller that
// makes the call is in flight, and judges each caller when it ends: a
// completed caller must have had every call accepted exactly once. Keys
// leave once judged, so memory follows the callers in flight (and those
// whose end was not seen), not the run.
type calls struct {
	mu   sync.Mutex
	open map[string]*callState
	// Judged so far.
	checked, missing, duplicate int
	missingExample              string
	// unknown: successes for keys not open (a call accepted again after
	// its caller completed): duplicates too.
	unknown int
}

type callState struct {
	successes int
	// settled: the caller's start was answered; demand: it was
	// acknowledged, so its calls must succeed (judged at the end).
	settled, demand bool
}

func newCalls() *calls { return &calls{open: map[string]*callState{}} }

// expect opens keys before their caller starts.
func (c *calls) expect(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		c.open[k] = &callState{}
	}
}

func (c *calls) success(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.open[key]; st != nil {
		st.successes++
	} else {
		c.unknown++
	}
}

// settle records how the caller of keys ended. completed: its workflow
// completed, so every call has had its answer: judge and close them.
// Otherwise they stay open for the end of the run (demanded if the start
// was acknowledged).
func (c *calls) settle(keys []string, acked, completed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		st := c.open[k]
		if st == nil {
			continue
		}
		st.settled, st.demand = true, acked
		if completed {
			c.judge(k, st, &c.checked, &c.missing, &c.duplicate, &c.missingExample)
			delete(c.open, k)
		}
	}
}

func (c *calls) judge(k string, st *callState, checked, missing, duplicate *int, example *string) {
	if !st.demand {
		if st.successes > 1 {
			*duplicate++
		}
		return
	}
	*checked++
	switch {
	case st.successes == 0:
		*missing++
		if *example == "" {
			*example = k
		}
	case st.successes > 1:
		*duplicate++
	}
}

// callTotals is the verdict so far, the open keys judged as they stand.
type callTotals struct {
	Checked, Missing, Duplicate int
	MissingExample              string
}

func (c *calls) totals() callTotals {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := callTotals{Checked: c.checked, Missing: c.missing, Duplicate: c.duplicate + c.unknown, MissingExample: c.missingExample}
	for k, st := range c.open {
		if st.settled {
			c.judge(k, st, &t.Checked, &t.Missing, &t.Duplicate, &t.MissingExample)
		}
	}
	return t
}
