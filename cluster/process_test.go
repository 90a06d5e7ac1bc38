package cluster

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A child that exits by itself is an unexpected exit, with its last words;
// one squall stops or kills is not.
func TestChildUnexpectedExits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux (Pdeathsig)")
	}
	dir := t.TempDir()
	crash := &Child{Name: "history-2", Bin: "/bin/sh", Args: []string{"-c", "echo READY; sleep 0.2; echo 'panic: boom' >&2; exit 2"},
		LogPath: filepath.Join(dir, "crash.out"), ReadyPrefix: "READY"}
	if _, err := crash.Start(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	<-crash.Exited()
	exits := crash.UnexpectedExits()
	if len(exits) != 1 || !strings.Contains(exits[0].Reason, "exit status 2") || !strings.Contains(exits[0].Reason, "panic: boom") {
		t.Errorf("crash: %+v", exits)
	}

	for _, how := range []string{"stop", "kill"} {
		c := &Child{Name: how, Bin: "/bin/sh", Args: []string{"-c", "echo READY; sleep 30"},
			LogPath: filepath.Join(dir, how+".out"), ReadyPrefix: "READY"}
		if _, err := c.Start(context.Background(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if how == "stop" {
			_ = c.Stop(5 * time.Second)
		} else {
			_ = c.Kill()
		}
		if x := c.UnexpectedExits(); len(x) != 0 {
			t.Errorf("%s: squall asked, yet %+v", how, x)
		}
	}
}

// A topology node reports its process's unasked exits, and a kill done
// through the node (a server-kill fault) is not one of them.
func TestNodeUnexpectedExits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux (Pdeathsig)")
	}
	dir := t.TempDir()
	node := func(name, script string) *Node {
		return &Node{Name: name, Service: "history", backend: &processNode{child: &Child{Name: name, Bin: "/bin/sh",
			Args: []string{"-c", script}, LogPath: filepath.Join(dir, name+".out"), ReadyPrefix: "READY"}}}
	}
	crashed := node("history-1", "echo READY; sleep 0.2; echo 'fatal error: out of memory' >&2; exit 2")
	killed := node("history-2", "echo READY; sleep 30")
	for _, n := range []*Node{crashed, killed} {
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	<-crashed.backend.(*processNode).child.Exited()
	if err := killed.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if x := crashed.UnexpectedExits(); len(x) != 1 || !strings.Contains(x[0].Reason, "out of memory") {
		t.Errorf("crashed node: %+v", x)
	}
	if x := killed.UnexpectedExits(); len(x) != 0 {
		t.Errorf("node killed by squall reports %+v", x)
	}
}
