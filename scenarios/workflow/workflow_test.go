package workflow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squallbench/squall/scenarios"
)

func values(t *testing.T, kv map[string]string) scenarios.Values {
	t.Helper()
	s, _ := scenarios.Get(Name)
	v, err := s.ParseOptions(kv)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTemplatesRenderPerIteration(t *testing.T) {
	file := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(file, []byte(`{"order": {{.Iteration}}, "run": "{{.RunID}}", "r": {{.Random}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := configure(values(t, map[string]string{"type": "Order", "input": "@" + file, "id": "o-{{.Iteration}}"}))
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{cfg: c}
	a, _ := d.args(vars{Iteration: 7, RunID: "R", Random: random(1, 7)})
	b, _ := d.args(vars{Iteration: 7, RunID: "R", Random: random(1, 7)})
	var got map[string]any
	if err := json.Unmarshal(a[0].(json.RawMessage), &got); err != nil || got["order"] != 7.0 || got["run"] != "R" {
		t.Errorf("rendered %s (%v)", a[0], err)
	}
	if string(a[0].(json.RawMessage)) != string(b[0].(json.RawMessage)) || random(1, 7) == random(1, 8) || random(1, 7) == random(2, 7) {
		t.Error("{{.Random}} must be fixed by seed and iteration, and differ between them")
	}
	id, _ := c.id.render(vars{Iteration: 3})
	if id != "o-3" {
		t.Errorf("id %q", id)
	}
	c, err = configure(values(t, map[string]string{"type": "T", "args": `[1, "two", {"n": {{.Iteration}}}]`}))
	if err != nil {
		t.Fatal(err)
	}
	if args, _ := (&driver{cfg: c}).args(vars{Iteration: 2}); len(args) != 3 {
		t.Errorf("args spread into %d arguments, want 3", len(args))
	}
}

func TestBadOptionsNameTheProblem(t *testing.T) {
	cases := []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{}, "missing --option type=NAME"},
		{map[string]string{"type": "T", "input": "{oops"}, "input is not valid JSON"},
		{map[string]string{"type": "T", "args": `{"a": 1}`}, "args must be a JSON array"},
		{map[string]string{"type": "T", "input": "1", "args": "[1]"}, "not both"},
		{map[string]string{"type": "T", "id": "fixed"}, "must contain {{.Iteration}}"},
		{map[string]string{"type": "T", "input": "{{.Nope}}"}, "can't evaluate field Nope"},
		{map[string]string{"type": "T", "input": "{{.Iteration"}, "bad template"},
		{map[string]string{"type": "T", "input": "@/nonexistent.json"}, "cannot read /nonexistent.json"},
		{map[string]string{"type": "T", "signal-input": "1"}, "signal-input needs signal=NAME"},
	}
	for _, c := range cases {
		_, err := configure(values(t, c.kv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.kv, err, c.want)
		}
	}
}
