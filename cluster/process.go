package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child is a squall child process (server or worker) that faults can kill,
// pause and restart. It is started again with the same arguments, so a
// restarted server reopens the same SQLite file.
type Child struct {
	Name        string
	Bin         string
	Args        []string
	LogPath     string // stdout and stderr go here (appended across restarts)
	ReadyPrefix string // a stdout line starting with this means "ready"
	// ReadyTCP, for a process that prints no ready line (an official
	// temporal-server), is a host:port that accepts connections once the
	// process is ready.
	ReadyTCP string
	// Env is the child's whole environment (nil: squall's own): how
	// secrets (a DSN's password, an API key) reach it without showing in
	// its command line, which every user of the machine can read.
	Env []string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	lastErrs *tail
	// asked: squall told the current process to end (stop, kill, a fault);
	// an exit without it is a crash, kept in unasked.
	asked   bool
	unasked []ChildExit
}

// ChildExit is an exit of a child process squall did not ask for.
type ChildExit struct {
	At     time.Time
	Reason string // the exit status and the process's last words
}

// UnexpectedExits lists the exits squall did not ask for, over every
// start of the child.
func (c *Child) UnexpectedExits() []ChildExit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ChildExit(nil), c.unasked...)
}

// Start launches the process and waits until it prints its ready line, it
// exits, or timeout passes. It returns what followed the ready prefix.
func (c *Child) Start(ctx context.Context, timeout time.Duration) (string, error) {
	logf, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", fmt.Errorf("%s log: %w", c.Name, err)
	}
	cmd := exec.Command(c.Bin, c.Args...)
	cmd.Env = c.Env
	// Die with squall, even on SIGKILL of squall itself: no orphaned servers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return "", err
	}
	tl := &tail{max: 5}
	cmd.Stderr = io.MultiWriter(logf, tl)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", fmt.Errorf("start %s: %w", c.Name, err)
	}
	exited := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.exited, c.exitErr, c.lastErrs, c.asked = cmd, exited, nil, tl, false
	c.mu.Unlock()

	readyCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, c.ReadyPrefix); ok && c.ReadyPrefix != "" {
				select {
				case readyCh <- strings.TrimSpace(rest):
				default:
				}
				continue
			}
			fmt.Fprintln(logf, line)
		}
		err := cmd.Wait()
		c.mu.Lock()
		c.exitErr = err
		if !c.asked {
			reason := fmt.Sprint(err)
			if err == nil {
				reason = "exit status 0"
			}
			if last := tl.String(); last != "" {
				reason += ": " + last
			}
			c.unasked = append(c.unasked, ChildExit{At: time.Now(), Reason: reason})
		}
		c.mu.Unlock()
		logf.Close()
		close(exited)
	}()

	if c.ReadyTCP != "" {
		go func() {
			for {
				select {
				case <-exited:
					return
				default:
				}
				if conn, err := net.DialTimeout("tcp", c.ReadyTCP, time.Second); err == nil {
					conn.Close()
					select {
					case readyCh <- c.ReadyTCP:
					default:
					}
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case s := <-readyCh:
		return s, nil
	case <-exited:
		return "", c.failure()
	case <-timer.C:
		_ = c.Kill()
		return "", fmt.Errorf("%s not ready within %s (log: %s)", c.Name, timeout, c.LogPath)
	case <-ctx.Done():
		_ = c.Kill()
		return "", ctx.Err()
	}
}

// failure turns an early exit into an error that carries the child's own
// last words; a child that exited 2 reported bad input, and so do we.
func (c *Child) failure() error {
	c.mu.Lock()
	err, msg := c.exitErr, c.lastErrs.String()
	c.mu.Unlock()
	msg = strings.TrimPrefix(msg, "squall: ")
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 && msg != "" {
		return Usagef("%s: %s", c.Name, msg)
	}
	if msg == "" {
		msg = fmt.Sprint(err)
	}
	return fmt.Errorf("%s exited before it was ready: %s (log: %s)", c.Name, msg, c.LogPath)
}

// Signal sends sig to the process if it is running.
func (c *Child) Signal(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return errors.New(c.Name + " not started")
	}
	select {
	case <-c.exited:
		return nil
	default:
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM || sig == syscall.SIGINT {
		c.asked = true
	}
	return c.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (c *Child) Kill() error {
	if err := c.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-c.Exited()
	return nil
}

// Pid is the current process's id, 0 when it is not running (not started
// yet, or exited and not restarted), so samplers read the right /proc entry.
func (c *Child) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	select {
	case <-c.exited:
		return 0
	default:
	}
	return c.cmd.Process.Pid
}

// Exited is closed when the current process has exited.
func (c *Child) Exited() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exited
}

// Stop asks the process to shut down (SIGCONT first, in case it is paused,
// then SIGTERM) and kills it if it has not exited after grace.
func (c *Child) Stop(grace time.Duration) error {
	if c.Exited() == nil {
		return nil
	}
	_ = c.Signal(syscall.SIGCONT)
	if err := c.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-c.Exited():
		return nil
	case <-time.After(grace):
		return c.Kill()
	}
}

// tail keeps the last few non-empty lines written to it.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  string
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.part + string(p)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	for _, l := range parts[:len(parts)-1] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		t.lines = append(t.lines, l)
		if len(t.lines) > t.max {
			t.lines = t.lines[1:]
		}
	}
	return len(p), nil
}

// String returns the last line written (the one that usually says why).
func (t *tail) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.part != "" {
		return strings.TrimSpace(t.part)
	}
	if len(t.lines) == 0 {
		return ""
	}
	return strings.TrimSpace(t.lines[len(t.lines)-1])
}
