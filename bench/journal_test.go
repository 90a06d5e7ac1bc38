package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Following a journal still being written: whole lines are read, a line
// cut mid-way waits for the next read, which starts where the last ended.
func TestReadJournalFromFollows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	line := func(id string) string { return `{"s":"s","id":"` + id + `","ok":true,"at":1}` + "\n" }
	whole := line("a") + line("b")
	cut := line("c")[:10]
	if err := os.WriteFile(path, []byte(whole+cut), 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []string
	collect := func(e JournalEntry) error { ids = append(ids, e.WorkflowID); return nil }
	off, err := ReadJournalFrom(path, 0, collect)
	if err != nil || off != int64(len(whole)) || strings.Join(ids, ",") != "a,b" {
		t.Fatalf("first read: %v at %d (%v): want a,b ending at %d", ids, off, err, len(whole))
	}
	if err := os.WriteFile(path, []byte(whole+line("c")+line("d")), 0o644); err != nil {
		t.Fatal(err)
	}
	ids = nil
	off2, err := ReadJournalFrom(path, off, collect)
	if err != nil || strings.Join(ids, ",") != "c,d" || off2 != int64(len(whole+line("c")+line("d"))) {
		t.Fatalf("second read: %v at %d (%v): want c,d to the end", ids, off2, err)
	}
}
