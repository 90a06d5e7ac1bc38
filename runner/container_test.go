package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/cluster"
)

// Cluster and persistence flags that cannot work together are refused
// before anything starts, each with a message naming the fix.
func TestClusterFlagsValidation(t *testing.T) {
	base := Flags{Scenario: "noop", Duration: 10 * time.Second, MaxInFlight: 10, Workers: 1}
	for _, c := range []struct {
		name string
		mod  func(*Flags)
		want string // "" = valid
	}{
		{"container", func(f *Flags) { f.Cluster = ClusterContainer }, ""},
		{"postgres", func(f *Flags) { f.Persistence = "postgres"; f.DSN = "postgres://u:p@db:5432/t"; f.Shards = 4 }, ""},
		{"postgres without dsn", func(f *Flags) { f.Persistence = "postgres" }, "needs --dsn"},
		{"bad persistence", func(f *Flags) { f.Persistence = "mysql" }, "bad --persistence"},
		{"bad cluster", func(f *Flags) { f.Cluster = "k8s" }, "bad --cluster"},
		{"image without container", func(f *Flags) { f.Image = "x" }, "need --cluster container"},
		{"loopback dsn in container", func(f *Flags) {
			f.Cluster, f.Persistence, f.DSN = ClusterContainer, "postgres", "postgres://u:p@127.0.0.1:5432/t"
		}, "points at loopback"},
		{"shards against address", func(f *Flags) { f.Conn = cluster.Conn{Address: "x:7233"}; f.Shards = 2 }, "configure a server squall starts"},
		{"too many shards", func(f *Flags) { f.Shards = cluster.MaxShards + 1 }, "bad --shards"},
		{"container fault without container", func(f *Flags) { f.Faults = []string{"container-kill at=1s for=1s"} }, "needs --cluster container"},
		{"worker target without worker containers", func(f *Flags) {
			f.Cluster = ClusterContainer
			f.Faults = []string{"container-pause at=1s for=1s target=worker=0"}
		}, "needs --worker-containers"},
		{"worker target out of range", func(f *Flags) {
			f.Cluster, f.WorkerContainers = ClusterContainer, true
			f.Faults = []string{"container-stop at=1s for=1s target=worker=3"}
		}, "worker=N with N below --workers 1"},
		{"server-kill on a container", func(f *Flags) {
			f.Cluster = ClusterContainer
			f.Faults = []string{"server-kill at=1s for=1s"}
		}, "needs the embedded server"},
		{"db with container", func(f *Flags) { f.Cluster = ClusterContainer; f.DB = "x.db" }, "are for the embedded server"},
	} {
		f := base
		c.mod(&f)
		_, err := Validate(f)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !cluster.IsUsageErr(err)):
			t.Errorf("%s: %v, want a usage error containing %q", c.name, err, c.want)
		}
	}
}
