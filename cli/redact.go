package cli

import (
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/squallbench/squall/cluster"
)

// secretAnnotation marks a flag whose value is a secret: reports keep the
// command line (run.flags), and CI jobs upload reports.
const secretAnnotation = "squall-secret"

// markSecret marks flags as secret; kind "dsn" hides only a DSN's password,
// "kv" only the value of KEY=VALUE, anything else the whole value.
func markSecret(f *pflag.FlagSet, kind string, names ...string) {
	for _, n := range names {
		_ = f.SetAnnotation(n, secretAnnotation, []string{kind})
	}
}

// redactArgs is the command line as reports keep it: every secret flag's
// value replaced by cluster.Redacted, whichever way it was written
// (--flag value, --flag=value, -f value, -fvalue).
func redactArgs(fs *pflag.FlagSet, args []string) []string {
	out := slices.Clone(args)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		var (
			fl          *pflag.Flag
			prefix, val string
			inline      bool
		)
		if strings.HasPrefix(a, "--") {
			name, v, ok := strings.Cut(a[2:], "=")
			fl, prefix, val, inline = fs.Lookup(name), "--"+name+"=", v, ok
		} else {
			// -n or -nVALUE or -n=VALUE (shorthands take one letter)
			fl, prefix = fs.ShorthandLookup(a[1:2]), a[:2]
			if rest := a[2:]; rest != "" {
				val, inline = strings.TrimPrefix(rest, "="), true
				prefix = a[:len(a)-len(val)]
			}
		}
		kind, secret := secretKind(fl)
		if !secret {
			continue
		}
		if inline {
			out[i] = prefix + redactValue(kind, val)
		} else if fl.NoOptDefVal == "" && i+1 < len(out) {
			out[i+1] = redactValue(kind, out[i+1])
			i++
		}
	}
	return out
}

func secretKind(fl *pflag.Flag) (string, bool) {
	if fl == nil {
		return "", false
	}
	v, ok := fl.Annotations[secretAnnotation]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func redactValue(kind, v string) string {
	switch kind {
	case "dsn":
		return cluster.RedactDSN(v)
	case "kv":
		if k, _, ok := strings.Cut(v, "="); ok {
			return k + "=" + cluster.Redacted
		}
	}
	return cluster.Redacted
}
