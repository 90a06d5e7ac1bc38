package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// PromQL asks a Prometheus that scrapes the cluster for the same signals
// ServerSignals computes from raw scrapes, with histogram_quantile over
// increase() of the buckets: per interval, never over totals. Every query
// carries the selector, so only the cluster's own series count; the
// server's processes are found from the service_name label Temporal puts
// on its metrics, per instance.
type PromQL struct {
	url      string
	selector string // the matchers inside the braces, normalised; "" none
	// minWindow is the shortest range a query looks back: increase() needs
	// two scrapes inside it, so it must exceed the scrape interval.
	minWindow time.Duration
	api       promv1.API
}

var _ Querier = (*PromQL)(nil)

// NewPromQL makes a PromQL client for the Prometheus at base (e.g.
// http://prometheus:9090) with a label selector such as
// {namespace="temporal"} ("": every series). client nil: a 10 s timeout.
func NewPromQL(base, selector string, minWindow time.Duration, client *http.Client) (*PromQL, error) {
	sel, err := ParseSelector(selector)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = httpClient
	}
	c, err := api.NewClient(api.Config{Address: base, Client: client})
	if err != nil {
		return nil, fmt.Errorf("bad --prometheus %q: %w", base, err)
	}
	return &PromQL{url: base, selector: sel, minWindow: minWindow, api: promv1.NewAPI(c)}, nil
}

func (p *PromQL) String() string {
	if p.selector == "" {
		return p.url
	}
	return p.url + " {" + p.selector + "}"
}

var (
	labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*`)
	matchOp   = regexp.MustCompile(`^(=~|!~|!=|=)`)
)

// ParseSelector checks a PromQL label selector, {name="value", …} with
// =, !=, =~ and !~, and returns its matchers normalised, without the
// braces, to be added to every query ("" for an empty selector).
func ParseSelector(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := func(why string) error {
		return fmt.Errorf(`bad --prometheus-selector %q: %s; want label matchers in braces, e.g. '{namespace="temporal"}'`, s, why)
	}
	inner, ok := strings.CutPrefix(s, "{")
	if inner, ok = strings.CutSuffix(inner, "}"); !ok {
		return "", bad("not in braces")
	}
	var out []string
	rest := strings.TrimSpace(inner)
	for rest != "" {
		name := labelName.FindString(rest)
		if name == "" {
			return "", bad("a label name must come first in each matcher")
		}
		rest = strings.TrimSpace(rest[len(name):])
		op := matchOp.FindString(rest)
		if op == "" {
			return "", bad("after " + name + " comes =, !=, =~ or !~")
		}
		rest = strings.TrimSpace(rest[len(op):])
		val, n, err := quoted(rest)
		if err != nil {
			return "", bad(err.Error())
		}
		if op == "=~" || op == "!~" {
			if _, err := regexp.Compile("^(?:" + val + ")$"); err != nil {
				return "", bad(fmt.Sprintf("%s: %v", name, err))
			}
		}
		out = append(out, name+op+strconv.Quote(val))
		rest = strings.TrimSpace(rest[n:])
		if r, ok := strings.CutPrefix(rest, ","); ok {
			rest = strings.TrimSpace(r)
		} else if rest != "" {
			return "", bad("matchers are separated by commas")
		}
	}
	if len(out) == 0 {
		return "", bad("no matcher")
	}
	return strings.Join(out, ","), nil
}

// quoted reads a double-quoted or backquoted string at the start of s:
// its value and its length in s.
func quoted(s string) (string, int, error) {
	if s == "" || (s[0] != '"' && s[0] != '`') {
		return "", 0, fmt.Errorf("a value is a quoted string")
	}
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && q == '"':
			i++
		case s[i] == q:
			v, err := strconv.Unquote(s[:i+1])
			if err != nil {
				return "", 0, fmt.Errorf("bad string %s", s[:i+1])
			}
			return v, i + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// m writes a vector selector: the metric with the selector's matchers and
// extra ones.
func (p *PromQL) m(metric string, extra ...string) string {
	var ms []string
	if p.selector != "" {
		ms = append(ms, p.selector)
	}
	ms = append(ms, extra...)
	return metric + "{" + strings.Join(ms, ",") + "}"
}

// Read evaluates every signal at end over the range since start.
func (p *PromQL) Read(ctx context.Context, start, end time.Time) (Reading, error) {
	rd := Reading{Signals: map[string]float64{}}
	win := max(end.Sub(start), p.minWindow).Round(time.Second)
	r := strconv.Itoa(int(win.Seconds())) + "s"
	// The cluster's timers are in seconds or milliseconds depending on its
	// metrics framework; a 1 ms bucket bound only exists in seconds.
	secs, err := p.query(ctx, end, `count(`+p.m(mPersistenceLatency+"_bucket", `le="0.001"`)+`)`)
	if err != nil {
		return rd, err
	}
	scale := "1"
	if len(secs) > 0 {
		scale = "1000"
	}
	q := func(quantile, metric, by string, filter ...string) string {
		return fmt.Sprintf(`histogram_quantile(%s, sum by (le%s) (increase(%s[%s]))) * %s`, quantile, by, p.m(metric+"_bucket", filter...), r, scale)
	}
	const served = `operation!~"Poll.*|GetWorkflowExecutionHistory"`
	queries := map[string]string{
		SigPersistenceP50: q("0.5", mPersistenceLatency, ""),
		SigPersistenceP99: q("0.99", mPersistenceLatency, ""),
		SigFrontendP50:    q("0.5", mServiceLatency, "", `service_name="frontend"`, served),
		SigFrontendP99:    q("0.99", mServiceLatency, "", `service_name="frontend"`, served),
		SigHistoryP50:     q("0.5", mServiceLatency, "", `service_name="history"`, served),
		SigHistoryP99:     q("0.99", mServiceLatency, "", `service_name="history"`, served),
		SigMatchingP99:    q("0.99", mServiceLatency, "", `service_name="matching"`, served),
		SigWorkflowS2SP99: q("0.99", mScheduleToStart, "", `task_type="Workflow"`),
		SigActivityS2SP99: q("0.99", mScheduleToStart, "", `task_type="Activity"`),
		SigLockP99:        q("0.99", mLockLatency, ""),
		SigSemaphoreP99:   q("0.99", mSemaphoreLatency, ""),
		SigBacklog:        `sum(` + p.m(mBacklog) + `)`,
	}
	for name, query := range queries {
		res, err := p.query(ctx, end, query)
		if err != nil {
			return rd, fmt.Errorf("%s: %w", name, err)
		}
		if len(res) == 1 && finite(res[0].v) {
			rd.Signals[name] = round(res[0].v)
		}
	}
	res, err := p.query(ctx, end, fmt.Sprintf(`topk(%d, %s)`, worstOps, q("0.99", mPersistenceLatency, ", operation")))
	if err != nil {
		return rd, fmt.Errorf("worst persistence: %w", err)
	}
	for _, s := range res {
		if finite(s.v) {
			rd.Worst = append(rd.Worst, OpLatency{Operation: s.labels[lOperation], P99MS: round(s.v)})
		}
	}
	tally := refusalTally{}
	exhausted, seen := 0.0, false
	for _, fam := range []struct{ name, layer string }{{mServiceExhausted, LayerService}, {mPersistExhausted, LayerPersistence}} {
		res, err := p.query(ctx, end, fmt.Sprintf(`sum by (%s, %s, %s, %s) (rate(%s[%s]))`, lService, lCause, lScope, lOperation, p.m(fam.name), r))
		if err != nil {
			return rd, fmt.Errorf("%s: %w", fam.name, err)
		}
		for _, s := range res {
			if !finite(s.v) {
				continue
			}
			seen = true
			tally.add(fam.layer, s.labels[lService], s.labels[lCause], s.labels[lScope], s.labels[lOperation], s.v)
			exhausted += s.v
		}
	}
	if seen {
		rd.Signals[SigExhausted] = round(exhausted)
	}
	rd.Refusals = tally.rates()
	rd.Instances, err = p.instances(ctx, end, r)
	return rd, err
}

// instances finds the server's processes among the scrape targets the
// selector matches, by the service_name label of Temporal's own metrics
// on each instance, and reads each one's cores (its gomaxprocs gauge),
// CPU and memory (the standard process metrics, where the deployment
// exports them). Targets without Temporal metrics (a database, an
// exporter) are not the server and do not count.
func (p *PromQL) instances(ctx context.Context, at time.Time, r string) ([]Instance, error) {
	res, err := p.query(ctx, at, fmt.Sprintf(`count by (instance, %s) (%s)`, lService,
		p.m("", `__name__=~"`+mGoMaxProcs+`|`+mServiceRequests+`"`)))
	if err != nil {
		return nil, fmt.Errorf("server processes: %w", err)
	}
	services := map[string]map[string]bool{}
	var order []string
	for _, s := range res {
		inst, svc := s.labels["instance"], s.labels[lService]
		if inst == "" || svc == "" {
			continue
		}
		if services[inst] == nil {
			services[inst] = map[string]bool{}
			order = append(order, inst)
		}
		services[inst][svc] = true
	}
	byInstance := map[string]*Instance{}
	out := make([]Instance, len(order))
	for i, inst := range order {
		out[i].Instance = inst
		if len(services[inst]) == 1 {
			for svc := range services[inst] {
				out[i].Service = svc
			}
		}
		byInstance[inst] = &out[i]
	}
	per := func(query string, set func(in *Instance, v float64)) error {
		res, err := p.query(ctx, at, query)
		if err != nil {
			return err
		}
		for _, s := range res {
			if in := byInstance[s.labels["instance"]]; in != nil && finite(s.v) {
				set(in, s.v)
			}
		}
		return nil
	}
	if err := per(`max by (instance) (`+p.m(mGoMaxProcs)+`)`, func(in *Instance, v float64) { in.Cores, in.HasCores = v, true }); err != nil {
		return nil, fmt.Errorf("server cores: %w", err)
	}
	if err := per(fmt.Sprintf(`sum by (instance) (rate(%s[%s]))`, p.m(mProcessCPU), r), func(in *Instance, v float64) { in.CPU, in.HasCPU = round(v), true }); err != nil {
		return nil, fmt.Errorf("server CPU: %w", err)
	}
	if err := per(`sum by (instance) (`+p.m(mProcessRSS)+`) / 1048576`, func(in *Instance, v float64) { in.RSSMB, in.HasRSS = round(v), true }); err != nil {
		return nil, fmt.Errorf("server memory: %w", err)
	}
	return out, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

type promSample struct {
	labels map[string]string
	v      float64
}

// query runs an instant query and returns its vector (a scalar as one
// sample without labels).
func (p *PromQL) query(ctx context.Context, at time.Time, query string) ([]promSample, error) {
	val, _, _, err := p.api.Query(ctx, query, at)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.url, err)
	}
	switch v := val.(type) {
	case model.Vector:
		out := make([]promSample, 0, len(v))
		for _, s := range v {
			l := make(map[string]string, len(s.Metric))
			for k, x := range s.Metric {
				l[string(k)] = string(x)
			}
			out = append(out, promSample{labels: l, v: float64(s.Value)})
		}
		return out, nil
	case *model.Scalar:
		return []promSample{{labels: map[string]string{}, v: float64(v.Value)}}, nil
	}
	return nil, fmt.Errorf("%s: %s: want an instant vector, got %s", p.url, query, val.Type())
}
