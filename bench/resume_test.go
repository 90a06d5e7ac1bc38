package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A driver killed mid-write leaves a torn last line: appending cuts it, so
// the next entry is a line of its own and the file reads back whole.
func TestAppendJournalCutsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	if err := os.WriteFile(path, []byte(`{"s":"noop","id":"a","ok":true,"at":1}`+"\n"+`{"s":"noop","id":"b","o`), 0o644); err != nil {
		t.Fatal(err)
	}
	var before []string
	if err := ReadJournal(path, func(e JournalEntry) error { before = append(before, e.WorkflowID); return nil }); err != nil {
		t.Fatalf("a torn last line must be ignored: %v", err)
	}
	j, err := AppendJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	j.For("noop").Started(JournalEntry{WorkflowID: "c", Acked: true})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	var after []string
	if err := ReadJournal(path, func(e JournalEntry) error { after = append(after, e.WorkflowID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(before, ",") != "a" || strings.Join(after, ",") != "a,c" {
		t.Errorf("before %v after %v: want [a] then [a c]", before, after)
	}
	// A bad line that is not the last is still an error.
	if err := os.WriteFile(path, []byte("{bad\n"+`{"id":"a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ReadJournal(path, func(JournalEntry) error { return nil }); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a malformed line 1 read back as %v", err)
	}
}

func TestAppendStreamCutsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, []byte(`{"t":"2026-12-05T10:00:00Z","kind":"run-start"}`+"\n"+`{"t":"2026-12-05T10:0`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := AppendStream(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(Record{Kind: KindResume}, Resume{From: 7, Recorded: 5})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	var kinds []string
	if err := ReadStream(f, func(r Record) error { kinds = append(kinds, r.Kind); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(kinds, ",") != "run-start,resume" {
		t.Errorf("records %v: want run-start then resume", kinds)
	}
}
