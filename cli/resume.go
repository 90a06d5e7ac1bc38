package cli

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/runner"
)

// resumeKey carries the run being resumed from resumeRun to the run
// command it executes.
type resumeKey struct{}

// notResumed are the recorded flags a resume leaves out: they name
// another directory or run id, or repeat the run. The resume sets --out
// and --run-id to the run's own.
var notResumed = []string{"out", "overwrite", "resume", "runs", "run-id", "cpu-profile"}

// resumeRun continues the run a killed driver left in dir: the run
// command again, on the command line the run recorded (its secrets were
// redacted there, so they come from the environment or profile again, or
// from secret flags given with --resume), into the same directory and run
// id. Only secret flags may come with --resume: anything else would make
// the second part a different run from the first.
func resumeRun(cmd *cobra.Command, dir string) error {
	var others []string
	var secrets []string
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Name == "resume" {
			return
		}
		if _, secret := secretKind(fl); secret {
			for _, v := range flagValues(fl) {
				secrets = append(secrets, "--"+fl.Name+"="+v)
			}
			return
		}
		others = append(others, "--"+fl.Name)
	})
	if len(others) > 0 {
		return cluster.Usagef("--resume continues the run with the flags it was started with; drop %s (only secrets such as --api-key may be given again)", strings.Join(others, ", "))
	}
	r, err := runner.ReadResumable(dir)
	if err != nil {
		return err
	}
	args := append([]string{"run"}, resumedArgs(cmd.Flags(), r.Info.Flags)...)
	args = append(args, "--out", dir, "--run-id", r.Info.RunID)
	args = append(args, secrets...)
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(cmd.OutOrStdout())
	root.SetErr(cmd.ErrOrStderr())
	return root.ExecuteContext(context.WithValue(cmd.Context(), resumeKey{}, r))
}

// resumedFrom is the run a run command continues, if it was started by
// resumeRun.
func resumedFrom(cmd *cobra.Command) *runner.Resumable {
	r, _ := cmd.Context().Value(resumeKey{}).(*runner.Resumable)
	return r
}

// resumedArgs are the flags of a recorded `squall run` command line to run
// again: those after the subcommand, without notResumed and without
// secret flags (their recorded values are redacted).
func resumedArgs(fs *pflag.FlagSet, recorded []string) []string {
	if i := slices.Index(recorded, "run"); i >= 0 {
		recorded = recorded[i+1:]
	}
	var out []string
	for i := 0; i < len(recorded); i++ {
		a := recorded[i]
		if a == "--" {
			out = append(out, recorded[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		var fl *pflag.Flag
		inline := false
		if strings.HasPrefix(a, "--") {
			name, _, ok := strings.Cut(a[2:], "=")
			fl, inline = fs.Lookup(name), ok
		} else {
			fl, inline = fs.ShorthandLookup(a[1:2]), len(a) > 2
		}
		n := 1 // tokens this flag takes
		if fl != nil && !inline && fl.NoOptDefVal == "" && i+1 < len(recorded) {
			n = 2
		}
		_, secret := secretKind(fl)
		if fl != nil && (secret || slices.Contains(notResumed, fl.Name)) {
			i += n - 1
			continue
		}
		out = append(out, recorded[i:i+n]...)
		i += n - 1
	}
	return out
}

// flagValues are a flag's values as given (each of a repeatable one's).
func flagValues(fl *pflag.Flag) []string {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return []string{fl.Value.String()}
}
