package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The checked-in reference pages are what the code writes today: a flag,
// option or help text changed without `make docs` fails here.
func TestReferenceDocsUpToDate(t *testing.T) {
	got := t.TempDir()
	if err := writeReference(got); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join("..", "docs", "reference")
	gotNames, wantNames := pageNames(t, got), pageNames(t, want)
	if !slices.Equal(gotNames, wantNames) {
		t.Fatalf("docs/reference is out of date: run make docs\n pages the code writes: %v\n pages checked in:      %v", gotNames, wantNames)
	}
	for _, name := range gotNames {
		g, _ := os.ReadFile(filepath.Join(got, name))
		w, _ := os.ReadFile(filepath.Join(want, name))
		if !bytes.Equal(g, w) {
			t.Errorf("docs/reference/%s is out of date: run make docs\n%s", name, firstDifference(string(w), string(g)))
		}
	}
}

// The pages depend on the code alone: two writes are identical, and no
// page carries cobra's dated footer.
func TestReferenceDocsAreDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := writeReference(a); err != nil {
		t.Fatal(err)
	}
	if err := writeReference(b); err != nil {
		t.Fatal(err)
	}
	for _, name := range pageNames(t, a) {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two writes", name)
		}
		if bytes.Contains(x, []byte("Auto generated")) {
			t.Errorf("%s carries cobra's dated footer", name)
		}
	}
	for _, must := range []string{"squall.md", "squall_run.md", "squall_capacity.md", "squall_compare.md", "scenarios.md", "faults.md"} {
		if _, err := os.Stat(filepath.Join(a, must)); err != nil {
			t.Errorf("no %s: %v", must, err)
		}
	}
	if _, err := os.Stat(filepath.Join(a, "squall_docs.md")); err == nil {
		t.Error("the hidden docs command got a page")
	}
}

// capacity judges lateness from 100 ms behind schedule; its help must
// show that default, not run's 10 ms.
func TestCapacityHelpShowsItsLateAfterDefault(t *testing.T) {
	for cmd, want := range map[string]string{"capacity": "(default 100ms)", "run": "(default 10ms)"} {
		var flagLine string
		for _, l := range strings.Split(helpOf(t, cmd), "\n") {
			if strings.Contains(l, "--late-after") {
				flagLine = l
			}
		}
		if !strings.Contains(flagLine, want) {
			t.Errorf("squall %s --help: --late-after line %q, want %s", cmd, flagLine, want)
		}
	}
}

func helpOf(t *testing.T, name string) string {
	t.Helper()
	root := newRootCmd()
	cmd, _, err := root.Find([]string{name})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	cmd.SetOut(&b)
	if err := cmd.Help(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func pageNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("docs/reference is out of date: run make docs (%v)", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// firstDifference shows the first line where the checked-in page and the
// generated one part.
func firstDifference(checkedIn, generated string) string {
	a, b := strings.Split(checkedIn, "\n"), strings.Split(generated, "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n checked in: %s\n generated:  %s", i+1, x, y)
		}
	}
	return ""
}
