//go:build !squall_lean

package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.yaml.in/yaml/v3"
)

// officialConfig writes the configuration an official temporal-server
// process of node n starts with: the one squall's own server builds for
// the same options (database, membership, ports, shards, metrics), its
// log to n's log file and the dynamic config as a file. It returns the
// config file's path and the child's environment.
func officialConfig(o ServerOptions, n *Node, dir string) (string, []string, error) {
	cfg, err := serverConfig(o)
	if err != nil {
		return "", nil, err
	}
	level := o.LogLevel
	if level == "" {
		level = "warn"
	}
	cfg.Log = tlog.Config{Level: level, OutputFile: n.LogPath}
	dcPath := filepath.Join(dir, "dynamicconfig.yaml")
	if err := writeDynamicConfig(dcPath, o.Dynamic); err != nil {
		return "", nil, err
	}
	cfg.DynamicConfigClient = &dynamicconfig.FileBasedClientConfig{Filepath: dcPath, PollInterval: time.Minute}
	env := os.Environ()
	for _, ds := range cfg.Persistence.DataStores {
		if ds.SQL != nil && ds.SQL.Password != "" {
			env = append(env, dsnPasswordEnv+"="+ds.SQL.Password)
			ds.SQL.Password = passwordMark
		}
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return "", nil, fmt.Errorf("server config for %s: %w", n.Name, err)
	}
	// The server renders a config file as a Go template when it says so
	// in its first lines; the password then comes from the environment.
	y = bytes.ReplaceAll(y, []byte(passwordMark), []byte(`{{ env "`+dsnPasswordEnv+`" | quote }}`))
	file := filepath.Join(dir, n.Name+".yaml")
	body := append([]byte("# enable-template\n# written by squall for "+n.Name+"; the password comes from $"+dsnPasswordEnv+"\n"), y...)
	if err := os.WriteFile(file, body, 0o600); err != nil {
		return "", nil, err
	}
	return file, env, nil
}

// writeDynamicConfig writes squall's load-test dynamic config and the
// run's overrides in the server's file format.
func writeDynamicConfig(path string, overrides map[string]string) error {
	merged := map[string]string{}
	for k, v := range LoadTestDynamicConfig {
		merged[k] = v
	}
	for k, v := range overrides {
		merged[k] = v
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# squall's load-test defaults and --dynamic-config overrides\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:\n  - value: %s\n", k, merged[k])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
