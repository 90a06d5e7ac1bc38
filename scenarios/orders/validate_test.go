package orders

import (
	"strings"
	"testing"

	"github.com/squallbench/squall/scenarios"
)

func validate(t *testing.T, opts map[string]string) error {
	t.Helper()
	s, ok := scenarios.Get(Name)
	if !ok {
		t.Fatal("scenario not registered")
	}
	v, err := s.ParseOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(v, scenarios.Load{Concurrency: 1, Iterations: 1})
}

// apply-deadline exists to ride out lost attempts; one shorter than their
// recovery (the attempt timeout until the loss is noticed, the backoff,
// the retry's own attempt) is refused.
func TestValidateDeadlineCoversRecovery(t *testing.T) {
	for _, c := range []struct {
		opts map[string]string
		ok   bool
	}{
		{map[string]string{}, true}, // 10m against 2×1m + 2s
		{map[string]string{"apply-deadline": "2m2s"}, true},
		{map[string]string{"apply-deadline": "2m"}, false},
		{map[string]string{"apply-deadline": "30s", "attempt-timeout": "10s"}, true},
		{map[string]string{"apply-deadline": "30s", "attempt-timeout": "10s", "retry-interval": "1s"}, false}, // 20 s backoff
	} {
		err := validate(t, c.opts)
		if (err == nil) != c.ok {
			t.Errorf("%v: err %v, want ok %v", c.opts, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "shorter than the recovery") {
			t.Errorf("%v: %v", c.opts, err)
		}
	}
}
