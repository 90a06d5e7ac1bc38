package metrics

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Target is one server metrics endpoint, labelled with the Temporal
// service its process runs and which process it is. The embedded server
// is one Target running every service; a deployment with a process per
// service has a Target per process (history-1, history-2, …).
type Target struct {
	// Service is the Temporal service the process runs (one of Services);
	// "" for a process running all of them, or one whose metrics say.
	Service string
	// Instance tells the processes of a service apart; "" is the URL's
	// host:port.
	Instance string
	URL      string
	// Pid, when the process runs on this machine, returns its pid (0
	// while it is down): its CPU and memory are then read from /proc.
	Pid func() int
	// Source scrapes the endpoint (nil: HTTPSource{URL}).
	Source Source
}

// Services are the Temporal server's services, as its metrics'
// service_name label and its --service flag spell them.
var Services = []string{"frontend", "history", "matching", "worker", "internal-frontend"}

func (t Target) String() string {
	name := t.Service
	if t.Instance != "" && t.Instance != hostPort(t.URL) {
		name = t.Instance
	}
	if name == "" {
		return t.URL
	}
	return name + "=" + t.URL
}

func (t Target) source() Source {
	if t.Source != nil {
		return t.Source
	}
	return HTTPSource{URL: t.URL}
}

func (t Target) scrape(ctx context.Context) (Families, error) { return t.source().Scrape(ctx) }

func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}

// ParseTargets reads --server-metrics values: each a comma-separated list
// of NAME=URL or a bare URL. NAME is a service (frontend=URL), a process
// of one (history-1=URL: service history, instance history-1), or
// "server" for a process running every service, as a bare URL is.
func ParseTargets(specs []string) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for _, spec := range specs {
		for _, part := range strings.Split(spec, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			t := Target{URL: part}
			if name, u, ok := strings.Cut(part, "="); ok && !strings.ContainsAny(name, ":/") {
				svc, inst, err := parseTargetName(name)
				if err != nil {
					return nil, err
				}
				t = Target{Service: svc, Instance: inst, URL: strings.TrimSpace(u)}
			}
			if pu, err := url.Parse(t.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				return nil, fmt.Errorf("bad --server-metrics %q: want NAME=URL or URL, e.g. history=http://temporal-history:9090/metrics", part)
			}
			if t.Instance == "" {
				t.Instance = hostPort(t.URL)
			}
			id := t.Service + "/" + t.Instance
			if seen[id] {
				return nil, fmt.Errorf("bad --server-metrics: %s is given twice: name each process of a service apart (history-1=URL,history-2=URL)", t)
			}
			seen[id] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// parseTargetName: "history" → (history, ""), "history-2" → (history,
// history-2), "server" → ("", "").
func parseTargetName(name string) (service, instance string, err error) {
	name = strings.TrimSpace(name)
	if name == ScopeServer {
		return "", "", nil
	}
	// The longest service the name starts with, so internal-frontend-1 is
	// not read as a frontend.
	svcs := append([]string(nil), Services...)
	sort.Slice(svcs, func(i, j int) bool { return len(svcs[i]) > len(svcs[j]) })
	for _, s := range svcs {
		if name == s {
			return s, "", nil
		}
		if rest, ok := strings.CutPrefix(name, s+"-"); ok && rest != "" {
			return s, name, nil
		}
	}
	return "", "", fmt.Errorf("bad --server-metrics name %q: want a service (%s), one of its processes (history-1), or server for a process running them all",
		name, strings.Join(Services, ", "))
}

// CoreCounts are the cores each server process may use, from
// --server-cores: by service, "" for every process without its own entry.
type CoreCounts map[string]float64

// ParseCores reads --server-cores: N for every server process, or
// SERVICE=N,… per service (a process running every service is "server").
func ParseCores(spec string) (CoreCounts, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	out := CoreCounts{}
	for _, part := range strings.Split(spec, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			name, n = "", name
		} else if name = strings.TrimSpace(name); name == ScopeServer {
			name = ""
		} else if svc, inst, err := parseTargetName(name); err != nil || inst != "" {
			return nil, fmt.Errorf("bad --server-cores %q: %q is no service (%s, or server)", spec, name, strings.Join(Services, ", "))
		} else {
			name = svc
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad --server-cores %q: want cores per server process, N or SERVICE=N,… e.g. 4 or history=8,frontend=2", spec)
		}
		out[name] = v
	}
	return out, nil
}

// For is the cores of a process of service, if given.
func (c CoreCounts) For(service string) (float64, bool) {
	if v, ok := c[service]; ok {
		return v, true
	}
	v, ok := c[""]
	return v, ok
}
