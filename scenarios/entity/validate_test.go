package entity

import (
	"strings"
	"testing"

	"github.com/squallbench/squall/scenarios"
)

// A finish deadline below the recovery of a lost workflow task is refused;
// the defaults pass.
func TestValidateFinishTimeout(t *testing.T) {
	s, _ := scenarios.Get(Name)
	for _, c := range []struct {
		raw  map[string]string
		want string
	}{{nil, ""}, {map[string]string{"finish-timeout": "5s"}, "workflow task timeout"}, {map[string]string{"can": "often"}, "want events:N"}} {
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

func TestValidateMessage(t *testing.T) {
	s, _ := scenarios.Get(Name)
	for _, c := range []struct {
		kv  map[string]string
		bad bool
	}{
		{map[string]string{"message": "update"}, false},
		{map[string]string{"message": "update-with-start", "prestart": "false"}, false},
		{map[string]string{"message": "update", "prestart": "false"}, true},
		{map[string]string{"message": "mixed", "prestart": "false"}, true},
		{map[string]string{"message": "carrier-pigeon"}, true},
		{map[string]string{"message": "update", "can": "never"}, true},
	} {
		v, err := s.ParseOptions(c.kv)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(v, scenarios.Load{}); (err != nil) != c.bad {
			t.Errorf("%v: %v", c.kv, err)
		}
	}
}
