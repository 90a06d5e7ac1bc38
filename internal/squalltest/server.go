package squalltest

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/squallbench/squall/cluster"
)

// FreePort is a loopback port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ServerPort is a frontend port for StartServer: the embedded server also
// listens on the InternalPorts ports after it, so a lone free port (which
// FreePort gives, from the kernel's ephemeral range) is not enough.
func ServerPort(t testing.TB) int {
	t.Helper()
	p, err := cluster.FreePortRange()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// StartServer runs `squall server` on db and port (from ServerPort) until the
// returned stop function is called.
func StartServer(t testing.TB, db string, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command(Binary(t), cluster.ServerOptions{DBPath: db, Port: port}.Args()...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), cluster.ReadyLine) {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("server exited before it was ready: %s", strings.TrimSpace(stderr.String()))
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("server not ready within 60s")
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("server did not stop within 30s of SIGTERM")
		}
	}
}

// lockedWriter lets the exec package's copier write while the test reads
// the text after Wait.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
