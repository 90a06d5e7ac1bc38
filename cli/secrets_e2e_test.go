package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// A secret planted through each path squall takes one from (flag,
// environment, profile, DSN, gRPC header) must not leave the process: not
// into any file of the run directory, its stdout or stderr, the argv of any
// process on the machine (but the one the user typed it into), nor a
// container's `docker inspect`.
func TestSecretsNeverLeaveTheProcess(t *testing.T) {
	squalltest.SkipIfShort(t)
	port := squalltest.ServerPort(t)
	stop := squalltest.StartServer(t, filepath.Join(t.TempDir(), "ext.db"), port)
	defer stop()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	load := []string{"--scenario", "noop", "--rate", "5/s", "--duration", "3s", "--workers", "1"}

	t.Run("flags", func(t *testing.T) {
		key, hdr := plant(t, "flag-key"), plant(t, "flag-header")
		secretRun(t, secretCase{secrets: []string{key, hdr}, typed: true, childEnv: true, wantAddress: addr,
			args: append([]string{"--address", addr, "--tls=false", "--api-key", key, "--grpc-meta", "x-squall-test=" + hdr}, load...)})
	})
	t.Run("environment", func(t *testing.T) {
		key, hdr := plant(t, "env-key"), plant(t, "env-header")
		out := secretRun(t, secretCase{secrets: []string{key, hdr}, args: load, childEnv: true, wantAddress: addr,
			env: []string{"TEMPORAL_ADDRESS=" + addr, "TEMPORAL_NAMESPACE=default", "TEMPORAL_TLS=false", "TEMPORAL_API_KEY=" + key,
				"TEMPORAL_GRPC_META_X_SQUALL_TEST=" + hdr}})
		if !strings.HasPrefix(out, "target: "+addr+", namespace default, API key, headers x-squall-test (from TEMPORAL_ADDRESS)") {
			t.Errorf("the first line should name the target from the environment:\n%s", out)
		}
	})
	t.Run("profile", func(t *testing.T) {
		key, hdr := plant(t, "profile-key"), plant(t, "profile-header")
		file := filepath.Join(t.TempDir(), "temporal.toml")
		toml := fmt.Sprintf("[profile.bench]\naddress = %q\napi_key = %q\n[profile.bench.tls]\ndisabled = true\n[profile.bench.grpc_meta]\nx-squall-test = %q\n", addr, key, hdr)
		if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		out := secretRun(t, secretCase{secrets: []string{key, hdr}, args: load, childEnv: true, wantAddress: addr,
			env: []string{"TEMPORAL_CONFIG_FILE=" + file, "TEMPORAL_PROFILE=bench"}})
		if !strings.Contains(out, "target: "+addr) || !strings.Contains(out, "profile bench from TEMPORAL_PROFILE") {
			t.Errorf("the first line should name the target and the profile it came from:\n%s", out)
		}
	})
	t.Run("dsn", func(t *testing.T) {
		password := plant(t, "dsn-password")
		dsn := postgresRole(t, password)
		// Given in the environment, so the user's own argv is clean too.
		secretRun(t, secretCase{secrets: []string{password}, childEnv: true, args: append([]string{"--persistence", "postgres"}, load...),
			env: []string{cluster.DSNEnv + "=" + dsn}})
	})
	t.Run("container", func(t *testing.T) {
		if err := exec.Command("docker", "info").Run(); err != nil {
			t.Skip("no docker engine")
		}
		key, hdr, password := plant(t, "ctr-key"), plant(t, "ctr-header"), plant(t, "ctr-dsn-password")
		// The server container gets a DSN whose host it cannot reach, so
		// the run fails at start-up: the password must stay out of the
		// container's inspect output and of the error the user sees.
		secretRun(t, secretCase{secrets: []string{key, hdr}, childEnv: true, args: append([]string{"--cluster", "container", "--worker-containers"}, load...),
			env: []string{"TEMPORAL_API_KEY=" + key, "TEMPORAL_GRPC_META_X_SQUALL_TEST=" + hdr}})
		res := secretRun(t, secretCase{secrets: []string{password}, wantFail: true,
			args: append([]string{"--cluster", "container", "--persistence", "postgres"}, load...),
			env:  []string{cluster.DSNEnv + "=postgres://squall:" + password + "@192.0.2.1:5432/squall"}})
		if !strings.Contains(res, "postgres") {
			t.Errorf("the failed start should say why:\n%s", res)
		}
	})
}

type secretCase struct {
	args     []string
	env      []string
	secrets  []string
	typed    bool // the user typed the secrets into squall's own argv
	wantFail bool
	// childEnv: each secret must be seen where it is meant to travel (a
	// child's environment, a container's connection file): proof the run
	// used it at all.
	childEnv bool
	// wantAddress: report.json's run.address, the cluster targeted.
	wantAddress string
}

// plant is a secret unique to this test run.
func plant(t *testing.T, what string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "sqsecret-" + what + "-" + hex.EncodeToString(b[:])
}

// secretRun runs squall with c, watching every process's argv and the
// run's containers while it runs, then searches its output and run
// directory. It returns stdout and stderr.
func secretRun(t *testing.T, c secretCase) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	runID := "sec" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	cmd := exec.Command(squalltest.Binary(t), append(append([]string{"run"}, c.args...), "--out", dir, "--run-id", runID)...)
	cmd.Env = append(squalltest.HermeticEnv(), c.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		leaks []string
	)
	leak := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if l := fmt.Sprintf(format, a...); !slices.Contains(leaks, l) {
			leaks = append(leaks, l)
		}
	}
	done := make(chan struct{})
	watched := make(chan struct{})
	inChildEnv := map[string]bool{}
	go func() {
		defer close(watched)
		for {
			scanArgv(cmd.Process.Pid, c, leak)
			for _, s := range scanChildEnv(cmd.Process.Pid, c.secrets) {
				mu.Lock()
				inChildEnv[s] = true
				mu.Unlock()
			}
			for _, s := range scanContainers(runID, c.secrets, leak) {
				mu.Lock()
				inChildEnv[s] = true
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var err error
	select {
	case err = <-waitErr:
	case <-time.After(4 * time.Minute):
		_ = cmd.Process.Kill()
		err = <-waitErr
		t.Errorf("squall did not finish within 4 minutes")
	}
	close(done)
	<-watched
	text := out.String()
	if (err != nil) != c.wantFail {
		t.Errorf("squall %v: %v (want failure: %v)\n%s", c.args, err, c.wantFail, text)
	}
	for _, s := range c.secrets {
		if strings.Contains(text, s) {
			leak("stdout/stderr holds %s", s)
		}
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, s := range c.secrets {
			if bytes.Contains(b, []byte(s)) {
				leak("%s holds %s", path, s)
			}
		}
		return nil
	})
	for _, l := range leaks {
		t.Error(l)
	}
	if c.childEnv {
		for _, s := range c.secrets {
			if !inChildEnv[s] {
				t.Errorf("%s never reached a child's environment: the run did not use it", s)
			}
		}
	}
	if !c.wantFail {
		b, err := os.ReadFile(filepath.Join(dir, reports.FileJSON))
		var rep reports.Report
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil {
			t.Errorf("report: %v", err)
		} else if c.wantAddress != "" && (rep.Run.Address != c.wantAddress || rep.Run.Cluster != "external") {
			t.Errorf("report run.address %q (cluster %s), want %q (external)", rep.Run.Address, rep.Run.Cluster, c.wantAddress)
		}
	}
	return text
}

// scanArgv reads the command line of every process on the machine.
func scanArgv(squallPid int, c secretCase, leak func(string, ...any)) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if c.typed && pid == squallPid {
			continue // the user's own command line
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, s := range c.secrets {
			if bytes.Contains(b, []byte(s)) {
				leak("argv of pid %d: %s", pid, strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
	}
}

// scanChildEnv returns the secrets found in the environment of squall's
// children (processes whose parent is squall).
func scanChildEnv(squallPid int, secrets []string) []string {
	var found []string
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != strconv.Itoa(squallPid) {
			continue
		}
		env, err := os.ReadFile(filepath.Join(filepath.Dir(st), "environ"))
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if bytes.Contains(env, []byte(s)) {
				found = append(found, s)
			}
		}
	}
	return found
}

// scanContainers inspects the run's containers, and returns the secrets
// found where they are meant to travel: the connection file copied into a
// worker container.
func scanContainers(runID string, secrets []string, leak func(string, ...any)) []string {
	ids, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+cluster.LabelRunID+"="+runID).Output()
	if err != nil || len(bytes.TrimSpace(ids)) == 0 {
		return nil
	}
	out, err := exec.Command("docker", append([]string{"inspect"}, strings.Fields(string(ids))...)...).Output()
	if err != nil {
		return nil
	}
	for _, s := range secrets {
		if bytes.Contains(out, []byte(s)) {
			leak("docker inspect of run %s holds %s", runID, s)
		}
	}
	var delivered []string
	for _, id := range strings.Fields(string(ids)) {
		file, err := exec.Command("docker", "cp", id+":/tmp/squall-temporal.toml", "-").Output()
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if bytes.Contains(file, []byte(s)) {
				delivered = append(delivered, s)
			}
		}
	}
	return delivered
}

// postgresRole makes a login role with password on the project's loopback
// PostgreSQL (scripts/ensure-postgres.sh) and returns a DSN of a database of
// its own; both are dropped afterwards.
func postgresRole(t *testing.T, password string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join("..", "scripts", "ensure-postgres.sh")).Output()
	if err != nil {
		t.Fatalf("scripts/ensure-postgres.sh: %v", err)
	}
	admin := strings.TrimSpace(string(out))
	role := fmt.Sprintf("squall_sec_%d", time.Now().UnixNano())
	psql := func(sql string) {
		t.Helper()
		if b, err := exec.Command("psql", admin, "-qc", sql).CombinedOutput(); err != nil {
			t.Fatalf("psql %s: %v\n%s", strings.Fields(sql)[0], err, b)
		}
	}
	psql(fmt.Sprintf(`CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'`, role, password))
	t.Cleanup(func() {
		for _, db := range []string{role, role + "_visibility"} {
			_ = exec.Command("psql", admin, "-qc", `DROP DATABASE IF EXISTS "`+db+`" WITH (FORCE)`).Run()
		}
		_ = exec.Command("psql", admin, "-qc", "DROP ROLE IF EXISTS "+role).Run()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.User, u.Path = url.UserPassword(role, password), "/"+role
	return u.String()
}
