package cluster

import (
	"os/exec"
	"strings"
	"testing"
)

// The lean build (-tags squall_lean) links neither the Temporal server
// nor the container engine: a file that starts importing either without
// its !squall_lean tag (and a stand-in in lean.go) shows up here. The full
// build is listed too, so the check would see them if they were there.
func TestLeanBuildLeavesServerAndContainersOut(t *testing.T) {
	heavy := []string{"go.temporal.io/server/", "github.com/testcontainers/", "github.com/moby/", "github.com/docker/"}
	deps := func(tags string) []string {
		out, err := exec.Command("go", "list", "-tags", tags, "-deps", "github.com/squallbench/squall/cmd/squall").CombinedOutput()
		if err != nil {
			t.Fatalf("go list -tags %q: %v\n%s", tags, err, out)
		}
		var found []string
		for _, p := range strings.Fields(string(out)) {
			for _, h := range heavy {
				if strings.HasPrefix(p, h) {
					found = append(found, p)
				}
			}
		}
		return found
	}
	if full := deps(""); len(full) < 100 {
		t.Fatalf("the full build links %d server and container packages; this check expects hundreds: %v", len(full), full)
	}
	if lean := deps("squall_lean"); len(lean) > 0 {
		t.Errorf("the lean build links %d server or container package(s), e.g. %v: give the importing file the !squall_lean tag and lean.go a stand-in", len(lean), lean[:min(len(lean), 5)])
	}
}
