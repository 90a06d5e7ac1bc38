package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/golden from their results.jsonl")

// The verdict policy and every number in report.json and report.md are a
// function of the result stream alone: a checked-in stream must render to
// the checked-in reports byte for byte, so a change to Build or a renderer
// shows up here as a diff someone has to look at (go test -update).
func TestGoldenReports(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden runs in testdata/golden (%v)", err)
	}
	schema := compileSchema(t, true)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, FileStream))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := Build(f)
			if err != nil {
				t.Fatal(err)
			}
			js, err := JSON(rep)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(t, schema, js); err != nil {
				t.Errorf("report.json does not match report.schema.json: %v", err)
			}
			for name, got := range map[string][]byte{FileJSON: js, FileMarkdown: []byte(Markdown(rep))} {
				path := filepath.Join(dir, name)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./reports -run Golden -update once)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the golden file: rerun with -update and review the diff", path)
				}
			}
		})
	}
}
