package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaFile = "report.schema.json"

// compileSchema compiles report.schema.json. strict additionally forbids
// properties the schema does not declare: the schema itself lets readers
// meet newer fields, but a field squall writes and the schema does not
// describe is drift, and this test is where it shows.
func compileSchema(t *testing.T, strict bool) *jsonschema.Schema {
	t.Helper()
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	if strict {
		closeObjects(doc)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schemaFile, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("%s does not compile: %v", schemaFile, err)
	}
	return sch
}

// closeObjects sets additionalProperties false on every object schema
// that lists properties and says nothing about others.
func closeObjects(v any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["properties"]; ok {
			if _, ok := x["additionalProperties"]; !ok {
				x["additionalProperties"] = false
			}
		}
		for _, c := range x {
			closeObjects(c)
		}
	case []any:
		for _, c := range x {
			closeObjects(c)
		}
	}
}

func validate(t *testing.T, sch *jsonschema.Schema, b []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// Every report Build makes validates against the schema, field for field:
// with and without thresholds, faults and verification.
func TestReportMatchesSchema(t *testing.T) {
	strict := compileSchema(t, true)
	for _, thresholds := range [][]string{nil, {"p99<1s", "nosuch.p99<1s", "throughput>=1/s", "history.max_bytes<1MiB"}} {
		dir := syntheticRun(t, thresholds...)
		if _, err := Rebuild(dir); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, FileJSON))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, strict, b); err != nil {
			t.Errorf("report.json (thresholds %v) does not match %s: %v", thresholds, schemaFile, err)
		}
	}
	// A report of a run that recorded nothing (killed at once).
	empty, err := Build(strings.NewReader(`{"t":"2026-01-01T00:00:00Z","kind":"run-start","data":{"squall_version":"x"}}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(empty)
	if err := validate(t, strict, b); err != nil {
		t.Errorf("the report of an empty run does not match: %v", err)
	}
}

// The schema can fail: a field it does not know (strict), a wrong type, an
// unknown schema version.
func TestSchemaRejects(t *testing.T) {
	strict, open := compileSchema(t, true), compileSchema(t, false)
	rep := buildSynthetic(t)
	b, _ := json.Marshal(rep)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var c map[string]any
		_ = json.Unmarshal(b, &c)
		f(c)
		out, _ := json.Marshal(c)
		return out
	}
	scenario := func(c map[string]any) map[string]any { return c["scenarios"].([]any)[0].(map[string]any) }
	newField := edit(func(c map[string]any) { scenario(c)["p42"] = 1 })
	if validate(t, strict, newField) == nil {
		t.Error("strict validation accepted an undeclared field")
	}
	if err := validate(t, open, newField); err != nil {
		t.Errorf("the published schema must accept newer fields: %v", err)
	}
	for name, bad := range map[string][]byte{
		"future version": edit(func(c map[string]any) { c["schema_version"] = SchemaVersion + 1 }),
		"string count":   edit(func(c map[string]any) { scenario(c)["started"] = "many" }),
		"no verdict":     edit(func(c map[string]any) { delete(c, "verdict") }),
		"bad executor":   edit(func(c map[string]any) { scenario(c)["executor"] = "fast" }),
		"bad time":       edit(func(c map[string]any) { c["run"].(map[string]any)["start_time"] = "yesterday" }),
	} {
		if validate(t, open, bad) == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}

// The schema's version is the code's.
func TestSchemaVersion(t *testing.T) {
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties struct {
			SchemaVersion struct {
				Const int `json:"const"`
			} `json:"schema_version"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Properties.SchemaVersion.Const != SchemaVersion {
		t.Fatalf("%s describes schema_version %d, the code writes %d: update the schema with the bump", schemaFile, s.Properties.SchemaVersion.Const, SchemaVersion)
	}
}
