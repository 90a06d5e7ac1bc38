// Package deploy holds no code: its tests check the deployment manifests,
// since no cluster is reachable where they run.
package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type obj = map[string]any

func load(t *testing.T, name string) obj {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("k8s", name))
	if err != nil {
		t.Fatal(err)
	}
	var o obj
	if err := yaml.Unmarshal(b, &o); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o
}

// at walks o along path (map keys, or list indexes as numbers).
func at(t *testing.T, o any, path ...string) any {
	t.Helper()
	cur := o
	for i, p := range path {
		switch c := cur.(type) {
		case obj:
			v, ok := c[p]
			if !ok {
				t.Fatalf("no %s", strings.Join(path[:i+1], "."))
			}
			cur = v
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n >= len(c) {
				t.Fatalf("no %s", strings.Join(path[:i+1], "."))
			}
			cur = c[n]
		default:
			t.Fatalf("%s is not a map or list", strings.Join(path[:i], "."))
		}
	}
	return cur
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not a list", v)
	}
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = fmt.Sprint(x)
	}
	return out
}

// flag returns the value of --name in args (--name=v or --name v).
func flag(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

var varRef = regexp.MustCompile(`\$\(([A-Z_]+)\)`)

// checkContainer asserts the image, that every $(VAR) in args is defined in
// the container's env (Kubernetes leaves an unknown one as is), that every
// ConfigMap reference names a key of the run's ConfigMap, and that the runs
// volume, if mounted, is the shared claim.
func checkContainer(t *testing.T, kind string, pod obj, cfg obj) (args []string, env map[string]obj) {
	t.Helper()
	c := at(t, pod, "containers", "0").(obj)
	if img := at(t, c, "image"); img != "squall:dev" {
		t.Errorf("%s: image %v, want squall:dev (make image)", kind, img)
	}
	args = strs(t, at(t, c, "args"))
	env = map[string]obj{}
	if e, ok := c["env"].([]any); ok {
		for _, x := range e {
			m := x.(obj)
			env[fmt.Sprint(m["name"])] = m
			if ref, ok := m["valueFrom"].(obj)["configMapKeyRef"].(obj); ok {
				key := fmt.Sprint(ref["key"])
				if ref["name"] != "squall-run" || cfg[key] == nil {
					t.Errorf("%s: env %s refers to %v/%s, not a key of ConfigMap squall-run", kind, m["name"], ref["name"], key)
				}
			}
		}
	}
	for _, a := range args {
		for _, m := range varRef.FindAllStringSubmatch(a, -1) {
			if env[m[1]] == nil {
				t.Errorf("%s: argument %q uses $(%s), which the container's env does not define", kind, a, m[1])
			}
		}
	}
	if mounts, ok := c["volumeMounts"].([]any); ok {
		vols := at(t, pod, "volumes").([]any)
		for _, m := range mounts {
			mm := m.(obj)
			if mm["mountPath"] != "/runs" {
				t.Errorf("%s: volume %v mounted at %v, want /runs", kind, mm["name"], mm["mountPath"])
			}
			found := false
			for _, v := range vols {
				vm := v.(obj)
				if vm["name"] == mm["name"] {
					found = true
					if claim := at(t, vm, "persistentVolumeClaim", "claimName"); claim != "squall-runs" {
						t.Errorf("%s: volume %v is claim %v, want squall-runs", kind, vm["name"], claim)
					}
				}
			}
			if !found {
				t.Errorf("%s: mount %v has no volume", kind, mm["name"])
			}
		}
	}
	return args, env
}

func TestKubernetesManifests(t *testing.T) {
	cfg := at(t, load(t, "run-config.yaml"), "data").(obj)
	for _, k := range []string{"RUN_ID", "START_AT", "TEMPORAL_ADDRESS"} {
		if cfg[k] == nil || cfg[k] == "" {
			t.Errorf("ConfigMap squall-run lacks %s", k)
		}
	}

	pvc := load(t, "runs-volume.yaml")
	if at(t, pvc, "kind") != "PersistentVolumeClaim" || at(t, pvc, "metadata", "name") != "squall-runs" ||
		!slices.Contains(strs(t, at(t, pvc, "spec", "accessModes")), "ReadWriteMany") {
		t.Errorf("runs volume: want PVC squall-runs, ReadWriteMany: %v", pvc)
	}

	job := load(t, "drivers.yaml")
	spec := at(t, job, "spec").(obj)
	if at(t, job, "kind") != "Job" || spec["completionMode"] != "Indexed" {
		t.Errorf("drivers: want an Indexed Job, got kind %v, completionMode %v", job["kind"], spec["completionMode"])
	}
	n, _ := spec["completions"].(int)
	if n < 2 || spec["parallelism"] != n {
		t.Errorf("drivers: completions %v, parallelism %v: want equal, 2 or more (all drivers at once)", spec["completions"], spec["parallelism"])
	}
	if spec["backoffLimit"] != 0 || at(t, spec, "template", "spec", "restartPolicy") != "Never" {
		t.Errorf("drivers: a failed driver must not be retried (backoffLimit 0, restartPolicy Never)")
	}
	args, env := checkContainer(t, "drivers", at(t, spec, "template", "spec").(obj), cfg)
	if args[0] != "run" {
		t.Errorf("drivers: args %v, want squall run", args)
	}
	if d, _ := flag(args, "driver"); d != fmt.Sprintf("job/%d", n) {
		t.Errorf("drivers: --driver %q, want job/%d (the index from JOB_COMPLETION_INDEX, of completions)", d, n)
	}
	if got := at(t, env["JOB_COMPLETION_INDEX"], "valueFrom", "fieldRef", "fieldPath"); got != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("drivers: JOB_COMPLETION_INDEX from %v, want the job-completion-index annotation", got)
	}
	for flagName, want := range map[string]string{"run-id": "$(RUN_ID)", "start-at": "$(START_AT)", "address": "$(TEMPORAL_ADDRESS)", "workers": "0"} {
		if v, _ := flag(args, flagName); v != want {
			t.Errorf("drivers: --%s %q, want %q", flagName, v, want)
		}
	}
	out, _ := flag(args, "out")
	if !strings.HasPrefix(out, "/runs/") || !strings.Contains(out, "$(JOB_COMPLETION_INDEX)") {
		t.Errorf("drivers: --out %q, want a directory per index on the /runs volume", out)
	}

	dep := load(t, "workers.yaml")
	if at(t, dep, "kind") != "Deployment" {
		t.Errorf("workers: kind %v, want Deployment", dep["kind"])
	}
	wargs, _ := checkContainer(t, "workers", at(t, dep, "spec", "template", "spec").(obj), cfg)
	if q, _ := flag(wargs, "task-queue"); wargs[0] != "worker" || q != "squall-$(RUN_ID)" {
		t.Errorf("workers: args %v, want squall worker --task-queue squall-$(RUN_ID) (the drivers' run id)", wargs)
	}
	if a, _ := flag(wargs, "address"); a != "$(TEMPORAL_ADDRESS)" {
		t.Errorf("workers: --address %q, want $(TEMPORAL_ADDRESS)", a)
	}

	merge := load(t, "merge.yaml")
	margs, _ := checkContainer(t, "merge", at(t, merge, "spec", "template", "spec").(obj), cfg)
	if len(margs) < 3 || margs[0] != "report" || margs[1] != "merge" {
		t.Fatalf("merge: args %v, want squall report merge", margs)
	}
	mout, _ := flag(margs, "out")
	// The merge must read every driver's directory, and write elsewhere.
	for i := range n {
		dir := strings.ReplaceAll(out, "$(JOB_COMPLETION_INDEX)", strconv.Itoa(i))
		if ok, _ := filepath.Match(margs[2], dir); !ok {
			t.Errorf("merge: %q does not match driver %d's directory %q", margs[2], i, dir)
		}
		if ok, _ := filepath.Match(margs[2], mout); ok || mout == "" {
			t.Errorf("merge: --out %q is (or matches) an input", mout)
		}
	}

	kust := load(t, "kustomization.yaml")
	for _, r := range strs(t, at(t, kust, "resources")) {
		if _, err := os.Stat(filepath.Join("k8s", r)); err != nil {
			t.Errorf("kustomization lists %s: %v", r, err)
		}
	}
}
