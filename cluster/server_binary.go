package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ServerBinary is an official temporal-server binary (another version
// than the one squall embeds) that runs some nodes of a topology.
type ServerBinary struct {
	Path    string `json:"path"`
	Version string `json:"version"` // what the binary says it is, e.g. 1.31.5
}

// OwnServer is squall's embedded server as a node's binary: the empty
// Path. Rolling upgrades end on it by default.
var OwnServer = ServerBinary{Version: ServerVersion}

// IsOwn says whether b is squall's embedded server.
func (b ServerBinary) IsOwn() bool { return b.Path == "" }

// Label names b for a report: its version and whose binary it is, so a
// swap between two builds of one version still reads as a change.
func (b ServerBinary) Label() string {
	if b.IsOwn() {
		return b.Version + " (squall)"
	}
	return b.Version + " (" + filepath.Base(b.Path) + ")"
}

var versionLine = regexp.MustCompile(`version (v?\d+\.\d+\.\d+\S*)`)

// LookServerBinary checks that path is a temporal-server binary and asks
// it for its version (`temporal-server --version`).
func LookServerBinary(path string) (ServerBinary, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ServerBinary{}, Usagef("--server-binary %s: %v", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return ServerBinary{}, Usagef("--server-binary %s: not an executable file (build one with scripts/server-binary.sh v1.31.5, which prints its path)", path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, abs, "--version").CombinedOutput()
	m := versionLine.FindSubmatch(out)
	if err != nil || m == nil {
		return ServerBinary{}, Usagef("--server-binary %s: `--version` did not name a Temporal server version (%s): want the official temporal-server binary (scripts/server-binary.sh VERSION builds one)",
			path, strings.TrimSpace(firstLine(string(out), err)))
	}
	return ServerBinary{Path: abs, Version: strings.TrimPrefix(string(m[1]), "v")}, nil
}

func firstLine(s string, err error) string {
	if s = strings.TrimSpace(s); s == "" && err != nil {
		return err.Error()
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// ParseServerBinaries reads --server-binary [SERVICE=]PATH flags: a bare
// PATH runs every service on it, SERVICE=PATH only that service's nodes
// (and wins over a bare PATH). The result is keyed by service, "" for all.
func ParseServerBinaries(specs []string) (map[string]ServerBinary, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := map[string]ServerBinary{}
	for _, s := range specs {
		svc, path, found := strings.Cut(s, "=")
		if !found {
			svc, path = "", s
		} else if !slices.Contains(Services, svc) {
			return nil, Usagef("--server-binary %s: %q is not a service (want PATH or SERVICE=PATH, SERVICE one of %s)", s, svc, strings.Join(Services, ", "))
		}
		if _, dup := out[svc]; dup {
			return nil, Usagef("--server-binary given twice for %s: one binary per service", orAll(svc))
		}
		b, err := LookServerBinary(path)
		if err != nil {
			return nil, err
		}
		out[svc] = b
	}
	return out, nil
}

func orAll(svc string) string {
	if svc == "" {
		return "all services"
	}
	return svc
}

// BinaryFor is the binary a service's nodes start on.
func (s TopologySpec) BinaryFor(service string) ServerBinary {
	if b, ok := s.Binaries[service]; ok {
		return b
	}
	if b, ok := s.Binaries[""]; ok {
		return b
	}
	return OwnServer
}

// dsnPasswordEnv carries the database password to an official server
// process: its config file names the variable (a template), so the
// password is neither in the file nor in the command line.
const dsnPasswordEnv = "SQUALL_SQL_PASSWORD"

// passwordMark stands for the password while the config is rendered; it
// becomes the template expression that reads dsnPasswordEnv.
const passwordMark = "squall-password-from-environment"

// officialArgs is the command line of an official server process: the
// config file and the one service; nothing secret.
func officialArgs(configFile, service string) []string {
	return []string{"--config-file", configFile, "--allow-no-auth", "start", "--service", service}
}

// schemaMismatch turns the server's refusal of the database's schema into
// advice: a binary newer than the schema squall set up.
func schemaMismatch(err error, b ServerBinary) error {
	if err == nil || !strings.Contains(err.Error(), "version mismatch") {
		return err
	}
	return Usagef("--server-binary %s (Temporal %s) needs a newer database schema than squall's Temporal %s sets up: use a binary of version %s or older (%v)",
		b.Path, b.Version, ServerVersion, ServerVersion, err)
}
