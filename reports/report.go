// Package reports turns a run's result stream into reports: it accumulates
// the records once (Build), and each output format is a renderer over the
// same numbers (JSON here, Markdown in markdown.go).
package reports

import (
	"cmp"
	"encoding/json"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/metrics"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// SchemaVersion of report.json. Bump it when a field changes meaning or
// goes away; adding fields does not need a bump.
const SchemaVersion = 2

// Verdicts.
const (
	VerdictPass        = "pass"
	VerdictFail        = "fail"
	VerdictInterrupted = "interrupted"
)

// Report is report.json: the machine contract CI scripts rely on.
type Report struct {
	SchemaVersion int `json:"schema_version"`
	// Verdict is "pass", "fail", or "interrupted" (stopped before the
	// planned load was done: whatever it shows, it is no benchmark result).
	Verdict   string     `json:"verdict"`
	Run       RunInfo    `json:"run"`
	Scenarios []Scenario `json:"scenarios"`
	// Faults are the injected fault windows, with what happened during each.
	Faults []FaultWindow `json:"faults"`
	// Capacity is a capacity search's outcome (squall capacity runs only):
	// the highest sustainable rate per worker count, every probe, and what
	// saturated first.
	Capacity *capacity.Report `json:"capacity,omitempty"`
	// ServerSignals: the cluster's and the processes' saturation signals
	// per interval (persistence, service and schedule-to-start latency,
	// backlog, CPU, RSS...), with each signal's median and peak; absent
	// when the run recorded none.
	ServerSignals *metrics.ServerReport `json:"server_signals,omitempty"`
}

// FaultWindow is one scheduled fault and the load it met.
type FaultWindow struct {
	Kind       string            `json:"kind"`
	Spec       string            `json:"spec"`
	Params     map[string]string `json:"params"`
	Scenario   string            `json:"scenario"`
	InjectedAt time.Time         `json:"injected_at"`
	HealedAt   time.Time         `json:"healed_at"`
	Error      string            `json:"error,omitempty"`
	Skipped    string            `json:"skipped,omitempty"`
	// Evidence is what the fault saw of the cluster (a topology node's
	// shards and rings, a rolling restart's steps), as the fault wrote it.
	Evidence json.RawMessage `json:"evidence,omitempty"`
	// FromS, ToS: the window in seconds since the scenario's load began
	// (the time axis of its intervals).
	FromS float64 `json:"from_s"`
	ToS   float64 `json:"to_s"`
	// What the load did in the one-second intervals overlapping the window.
	Started        int64   `json:"started"`
	Completed      int64   `json:"completed"`
	Failed         int64   `json:"failed"`
	Late           int64   `json:"late"`
	Dropped        int64   `json:"dropped"`
	MaxCorrectedMS float64 `json:"max_corrected_ms"`
	// Held is the work the fault held: iterations in flight during the
	// window or due in it, whenever they finished (HeldFailed of them
	// failed or were abandoned). HeldP99MS and HeldMaxMS are their
	// corrected latency: what the fault cost, which completions inside
	// the window (MaxCorrectedMS) miss when the held work finishes after
	// the heal. Absent in runs recorded before it was measured.
	Held       int64   `json:"held,omitempty"`
	HeldFailed int64   `json:"held_failed,omitempty"`
	HeldP99MS  float64 `json:"held_p99_ms,omitempty"`
	HeldMaxMS  float64 `json:"held_max_ms,omitempty"`
	// Lost: workflows started within the window that Temporal does not know.
	Lost int64 `json:"lost"`
	// RecoveredAfterS: seconds from the heal until the work in flight was
	// back at its level before the fault (the most in flight in the 5 s
	// before the injection, InFlightBefore), read at the end of each 1 s
	// interval; null when it never got back within the run, or when there
	// was no interval before the injection to compare with (Recovery says
	// which).
	RecoveredAfterS *float64 `json:"recovered_after_s"`
	InFlightBefore  int64    `json:"in_flight_before"`
	Recovery        string   `json:"recovery,omitempty"`
}

// RunInfo describes the run: what ran where, with which flags, when.
type RunInfo struct {
	SquallVersion string `json:"squall_version"`
	Commit        string `json:"commit"`
	ServerVersion string `json:"server_version"`
	Cluster       string `json:"cluster"` // embedded or external
	Address       string `json:"address"` // the cluster targeted (not a fault proxy in front of it)
	// AddressFrom says where an address of the user's came from:
	// "--address", "TEMPORAL_ADDRESS", "profile NAME (FILE)".
	AddressFrom   string            `json:"address_from,omitempty"`
	Namespace     string            `json:"namespace"`
	TaskQueue     string            `json:"task_queue"`
	Flags         []string          `json:"flags"`
	Cores         int               `json:"cores"`
	GoVersion     string            `json:"go_version"`
	OS            string            `json:"os"`
	Workers       int               `json:"workers"`
	WorkerTuning  any               `json:"worker_tuning"`
	DynamicConfig map[string]string `json:"dynamic_config,omitempty"`
	StartTime     time.Time         `json:"start_time"`
	EndTime       time.Time         `json:"end_time"`
	Interrupted   bool              `json:"interrupted"`
	// CPU time of the driver (squall run itself) and of its children
	// (embedded server, workers): the load generator's own share.
	DriverCPUSeconds   float64 `json:"driver_cpu_s"`
	ChildrenCPUSeconds float64 `json:"children_cpu_s"`
	// DriverCPUPer1k is the driver's CPU seconds per 1,000 completed
	// workflows (of every scenario of the run): what the load generator
	// itself costs per workflow, verification included. Absent when
	// nothing completed or the CPU is unknown.
	DriverCPUPer1k float64 `json:"driver_cpu_per_1k_workflows_s,omitempty"`
	// Resumes are the gaps of a run whose driver was killed and that
	// `squall run --resume` continued: where each resumed and what it cost.
	Resumes []bench.Resume `json:"resumes,omitempty"`
	// Error is set when the run stopped early on a set-up or run error.
	Error string `json:"error,omitempty"`
	// RunID is shared by every driver of a run split across drivers
	// (--driver i/n): Driver of Drivers, their schedule's t=0 at StartAt.
	RunID   string    `json:"run_id,omitempty"`
	Driver  int       `json:"driver,omitempty"`
	Drivers int       `json:"drivers,omitempty"`
	StartAt time.Time `json:"start_at,omitzero"`
	// Schema is the SchemaVersion of the squall that wrote the stream.
	Schema int `json:"schema,omitempty"`
	// Merged lists the driver run directories a merged report was made
	// from; MissingDrivers, the indexes of those absent.
	Merged         []string `json:"merged,omitempty"`
	MissingDrivers []int    `json:"missing_drivers,omitempty"`
	// Topology is the cluster of service processes squall started
	// (--topology services): nil for one process or the user's cluster.
	Topology *Topology `json:"topology,omitempty"`
}

// Topology is a cluster of service processes as the run left it.
type Topology struct {
	Kind      string    `json:"kind"` // services
	Shards    int       `json:"shards"`
	Processes []Process `json:"processes"`
}

// Process is one node of a topology: its service, where it listened,
// which process or container ran it, and what happened to it.
type Process struct {
	Name          string `json:"name"` // SERVICE-N
	Service       string `json:"service"`
	Instance      int    `json:"instance"`
	ServerVersion string `json:"server_version"` // at the end of the run
	// Binary is the official temporal-server binary the process ran at the
	// end (empty: squall's own server).
	Binary         string         `json:"binary,omitempty"`
	Pid            int            `json:"pid,omitempty"`
	Container      string         `json:"container,omitempty"`
	Address        string         `json:"address"`
	GRPCPort       int            `json:"grpc_port"`
	MembershipPort int            `json:"membership_port"`
	MetricsURL     string         `json:"metrics_url"`
	Log            string         `json:"log"`
	StartedAt      time.Time      `json:"started_at"`
	RestartedAt    []time.Time    `json:"restarted_at,omitempty"`
	Events         []ProcessEvent `json:"events,omitempty"`
}

// ProcessEvent is something done to a process (start, kill, stop, pause,
// resume, restart, upgrade).
type ProcessEvent struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
	// Version is the server version a start, restart or upgrade brought
	// up, Binary its official binary (empty: squall's own server).
	Version string `json:"version,omitempty"`
	Binary  string `json:"binary,omitempty"`
}

// ScenarioPlan is what the run intended for a scenario (written at its start).
type ScenarioPlan struct {
	Name string `json:"name"`
	// Entry labels this section of the run: the scenario's name, or the
	// suite entry's name when a suite runs a scenario more than once.
	Entry       string            `json:"entry,omitempty"`
	Options     map[string]string `json:"options"`
	Executor    string            `json:"executor"` // arrival-rate or concurrency
	Pacer       string            `json:"pacer,omitempty"`
	Concurrency int               `json:"concurrency,omitempty"`
	MaxInFlight int               `json:"max_in_flight,omitempty"`
	Duration    string            `json:"duration,omitempty"`
	Iterations  int64             `json:"iterations,omitempty"`
	LateAfter   string            `json:"late_after"`
	// Thresholds are the pass/fail expressions to check after the run
	// (ParseThreshold). In report.json they are shadowed by
	// Scenario.Thresholds, the evaluated rows, which carry each expression.
	Thresholds []string `json:"thresholds,omitempty"`
}

// Label names the scenario's section: its suite entry, else its name.
func (s ScenarioPlan) Label() string { return cmp.Or(s.Entry, s.Name) }

// Quantiles of a latency histogram, in milliseconds.
type Quantiles = bench.Quantiles

// Latency holds the two views of end-to-end latency.
type Latency struct {
	// Corrected: from the intended start (what a user of the system saw).
	Corrected Quantiles `json:"corrected"`
	// Uncorrected: from the actual start (what a closed-loop tool reports).
	Uncorrected Quantiles `json:"uncorrected"`
}

// History is the largest history seen among the scenario's workflows.
type History struct {
	MaxLength int64 `json:"max_length"`
	MaxBytes  int64 `json:"max_bytes"`
}

// Scenario is one scenario's results.
type Scenario struct {
	ScenarioPlan
	Started        int64   `json:"started"`
	Completed      int64   `json:"completed"`
	Failed         int64   `json:"failed"`
	Lost           int64   `json:"lost"`
	Abandoned      int64   `json:"abandoned"`
	ThroughputPerS float64 `json:"throughput_per_s"`
	LateStarts     int64   `json:"late_starts"`
	DroppedStarts  int64   `json:"dropped_starts"`
	// ScheduledStarts counts every start the schedule called for (issued + dropped).
	ScheduledStarts int64   `json:"scheduled_starts"`
	LoadSeconds     float64 `json:"load_seconds"`
	// LoadSeconds is the load phase, from the first scheduled start to
	// the last start issued; DrainSeconds, from then until the last
	// iteration finished (or was abandoned). Throughput divides by
	// LoadSeconds only.
	DrainSeconds float64               `json:"drain_seconds"`
	LatencyMS    Latency               `json:"latency_ms"`
	LatenessMS   Quantiles             `json:"lateness_ms"`
	HistogramsMS map[string]Quantiles  `json:"histograms_ms,omitempty"` // scenario-specific
	History      History               `json:"history"`
	Verification *verify.Result        `json:"verification,omitempty"`
	Invariants   []scenarios.Invariant `json:"invariants"`
	Thresholds   []ThresholdResult     `json:"thresholds,omitempty"` // one row per ScenarioPlan.Thresholds
	Errors       []string              `json:"errors,omitempty"`     // first few distinct iteration errors
	// Details are scenario-specific results (Env.Emit), by key.
	Details   map[string]json.RawMessage `json:"details,omitempty"`
	Intervals []IntervalRow              `json:"intervals"`
	// Trends: a load of six minutes or more, per window (trends.go).
	Trends *Trends `json:"trends,omitempty"`
	// SpectrumMS is the whole run's percentile spectrum (the plots draw it;
	// the histograms themselves are not kept).
	SpectrumMS *Spectrum `json:"spectrum_ms,omitempty"`
}

// IntervalRow is one row of the per-interval time series.
type IntervalRow struct {
	OffsetS   float64  `json:"offset_s"` // interval end, seconds since the scenario's load began
	Started   int64    `json:"started"`
	Completed int64    `json:"completed"`
	Failed    int64    `json:"failed"`
	Late      int64    `json:"late"`
	Dropped   int64    `json:"dropped"`
	InFlight  int64    `json:"in_flight"`
	P50MS     float64  `json:"p50_ms"`
	P99MS     float64  `json:"p99_ms"`
	MaxMS     float64  `json:"max_ms"`
	Faults    []string `json:"faults,omitempty"` // fault kinds active during the interval
	// UncorrectedP99MS: p99 from the actual start, beside the corrected one.
	UncorrectedP99MS float64 `json:"uncorrected_p99_ms"`
}

// VerifyRecord is the payload of a verify record in the result stream.
type VerifyRecord struct {
	Result     *verify.Result        `json:"result"`
	Invariants []scenarios.Invariant `json:"invariants"` // generic ones first, then the scenario's own
}

func quantiles(h *bench.Histogram) Quantiles { return bench.QuantilesOf(h) }
