package runner

import (
	"slices"
	"testing"
)

// Workers serve their SDK metrics where the driver serves its own, so a
// Prometheus that reaches one (another container, another host) reaches
// the other; without --metrics-listen they stay on loopback.
func TestWorkerMetricsListenOnTheDriversHost(t *testing.T) {
	for _, c := range []struct {
		listen string
		base   int
		want   []string
	}{
		{"", 0, nil},
		{"0.0.0.0:9464", 0, nil},
		{"", 9465, []string{"--metrics-listen", "127.0.0.1:9467"}},
		{"127.0.0.1:9464", 9465, []string{"--metrics-listen", "127.0.0.1:9467"}},
		{"0.0.0.0:9464", 9465, []string{"--metrics-listen", "0.0.0.0:9467"}},
		{":9464", 9465, []string{"--metrics-listen", ":9467"}},
		{"[::1]:9464", 9465, []string{"--metrics-listen", "[::1]:9467"}},
	} {
		f := MetricsFlags{Listen: c.listen, WorkerBasePort: c.base}
		if got := workerMetricsArgs(f, 2); !slices.Equal(got, c.want) {
			t.Errorf("--metrics-listen %q --worker-metrics-base-port %d: worker 2 gets %q, want %q", c.listen, c.base, got, c.want)
		}
	}
}
