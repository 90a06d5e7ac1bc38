package cluster

import (
	"strings"

	"github.com/squallbench/squall/exitcode"
)

// Usagef builds a usage error (exit 2).
func Usagef(format string, a ...any) error { return exitcode.Usagef(format, a...) }

// IsUsageErr reports whether err is a usage error.
func IsUsageErr(err error) bool { return exitcode.IsUsage(err) }

// ParseKeyValues parses repeated key=value flags.
func ParseKeyValues(flag string, pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, Usagef("bad %s %q: want key=value", flag, p)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}
