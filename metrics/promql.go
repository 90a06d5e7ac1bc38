package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PromQL asks a Prometheus that scrapes the cluster for the same signals
// ServerSignals computes from raw scrapes, with histogram_quantile over
// increase() of the buckets: per interval, never over totals.
type PromQL struct {
	URL string // the Prometheus base URL, e.g. http://prometheus:9090
	// MinWindow is the shortest range a query looks back: increase() needs
	// two scrapes inside it, so it must exceed the scrape interval.
	MinWindow time.Duration
	Client    *http.Client // nil: a client with a 10 s timeout
}

func (p PromQL) String() string { return p.URL }

// Signals evaluates every signal at end over the range since start.
func (p PromQL) Signals(ctx context.Context, start, end time.Time) (map[string]float64, []OpLatency, error) {
	win := max(end.Sub(start), p.MinWindow).Round(time.Second)
	r := strconv.Itoa(int(win.Seconds())) + "s"
	// The cluster's timers are in seconds or milliseconds depending on its
	// metrics framework; a 1 ms bucket bound only exists in seconds.
	secs, err := p.query(ctx, end, `count(persistence_latency_bucket{le="0.001"})`)
	if err != nil {
		return nil, nil, err
	}
	scale := "1"
	if len(secs) > 0 {
		scale = "1000"
	}
	q := func(quantile, metric, filter, by string) string {
		return fmt.Sprintf(`histogram_quantile(%s, sum by (le%s) (increase(%s_bucket{%s}[%s]))) * %s`, quantile, by, metric, filter, r, scale)
	}
	const served = `operation!~"Poll.*|GetWorkflowExecutionHistory"`
	queries := map[string]string{
		SigPersistenceP50:   q("0.5", mPersistenceLatency, "", ""),
		SigPersistenceP99:   q("0.99", mPersistenceLatency, "", ""),
		SigFrontendP50:      q("0.5", mServiceLatency, `service_name="frontend",`+served, ""),
		SigFrontendP99:      q("0.99", mServiceLatency, `service_name="frontend",`+served, ""),
		SigHistoryP50:       q("0.5", mServiceLatency, `service_name="history",`+served, ""),
		SigHistoryP99:       q("0.99", mServiceLatency, `service_name="history",`+served, ""),
		SigMatchingP99:      q("0.99", mServiceLatency, `service_name="matching",`+served, ""),
		SigWorkflowS2SP99:   q("0.99", mScheduleToStart, `task_type="Workflow"`, ""),
		SigActivityS2SP99:   q("0.99", mScheduleToStart, `task_type="Activity"`, ""),
		SigLockP99:          q("0.99", mLockLatency, "", ""),
		SigSemaphoreP99:     q("0.99", mSemaphoreLatency, "", ""),
		SigBacklog:          `sum(` + mBacklog + `)`,
		SigResourceExhaust:  fmt.Sprintf(`sum(increase({__name__=~"%s|%s"}[%s]))`, mServiceExhausted, mPersistExhausted, r),
		SigServerCPUFromSrv: fmt.Sprintf(`sum(rate(%s[%s]))`, mProcessCPU, r),
		SigServerRSSFromSrv: `sum(` + mProcessRSS + `) / 1048576`,
	}
	sig := map[string]float64{}
	for name, query := range queries {
		res, err := p.query(ctx, end, query)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(res) == 1 && !math.IsNaN(res[0].v) && !math.IsInf(res[0].v, 0) {
			sig[name] = round(res[0].v)
		}
	}
	res, err := p.query(ctx, end, fmt.Sprintf(`topk(%d, %s)`, worstOps, q("0.99", mPersistenceLatency, "", ", operation")))
	if err != nil {
		return nil, nil, fmt.Errorf("worst persistence: %w", err)
	}
	var worst []OpLatency
	for _, s := range res {
		if !math.IsNaN(s.v) && !math.IsInf(s.v, 0) {
			worst = append(worst, OpLatency{Operation: s.labels["operation"], P99MS: round(s.v)})
		}
	}
	return sig, worst, nil
}

type promSample struct {
	labels map[string]string
	v      float64
}

func (p PromQL) query(ctx context.Context, at time.Time, query string) ([]promSample, error) {
	v := url.Values{"query": {query}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.URL, "/")+"/api/v1/query?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	c := p.Client
	if c == nil {
		c = httpClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", p.URL, resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: %s", p.URL, body.Error)
	}
	out := make([]promSample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			continue
		}
		out = append(out, promSample{labels: r.Metric, v: f})
	}
	return out, nil
}
