package throttled

import (
	"strings"
	"testing"

	"github.com/squallbench/squall/scenarios"
)

// An API latency near the call's StartToClose (the only recovery of a
// lost attempt) is refused; the defaults pass.
func TestValidateLatency(t *testing.T) {
	s, _ := scenarios.Get(Name)
	for _, c := range []struct {
		raw  map[string]string
		want string
	}{{nil, ""}, {map[string]string{"api-latency": "15s"}, "StartToClose"}, {map[string]string{"api-latency": "1s"}, ""}} {
		vals, err := s.ParseOptions(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Validate(vals, scenarios.Load{})
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: %v, want %q", c.raw, err, c.want)
		}
	}
}
