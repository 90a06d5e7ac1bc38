package reports

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// topologyMarkdown lists the processes of a --topology services cluster:
// what ran where, and what happened to each.
func topologyMarkdown(t *Topology) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Topology: %d processes, %d history shards\n\n", len(t.Processes), t.Shards)
	b.WriteString("| process | service | version | pid / container | gRPC | metrics | events |\n|---|---|---|---|---:|---|---|\n")
	for _, row := range topologyRows(t) {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n")
	return b.String()
}

// topologyRows: per process, its name, service, version, pid or
// container, gRPC port, metrics URL and what happened to it.
func topologyRows(t *Topology) [][]string {
	if t == nil {
		return nil
	}
	var rows [][]string
	for _, p := range t.Processes {
		where := fmt.Sprint(p.Pid)
		if p.Container != "" {
			where = p.Container
		}
		var ev []string
		version := binaryLabel(p.ServerVersion, p.Binary)
		for _, e := range p.Events {
			if e.What == "start" && e.At.Equal(p.StartedAt) {
				if first := binaryLabel(e.Version, e.Binary); e.Version != "" && first != version {
					version = first + " → " + version
				}
				continue
			}
			if e.What == "upgrade" {
				ev = append(ev, "on "+binaryLabel(e.Version, e.Binary)+" "+clock(e.At))
				continue
			}
			ev = append(ev, e.What+" "+clock(e.At))
		}
		rows = append(rows, []string{p.Name, p.Service, version, where, fmt.Sprint(p.GRPCPort), p.MetricsURL, dash(strings.Join(ev, ", "))})
	}
	return rows
}

// evidenceRow reads what node faults and rolling restarts record (the
// faults package's NodeEvidence and RollingStep) for the report.
type evidenceRow struct {
	Node       string   `json:"node"`
	Service    string   `json:"service"`
	Shards     []int32  `json:"shards"`
	RingBefore []string `json:"ring_before"`
	RingDuring []string `json:"ring_during"`
	Moved      *struct {
		Since   time.Time          `json:"since"`
		TakenAt time.Time          `json:"taken_at"`
		TakenBy map[string][]int32 `json:"taken_by"`
	} `json:"shards_moved"`
	MoveError    string    `json:"shards_moved_error"`
	From         string    `json:"from_version"`
	To           string    `json:"to_version"`
	StoppedAt    time.Time `json:"stopped_at"`
	StartedAt    time.Time `json:"started_at"`
	ServingAt    time.Time `json:"serving_again_at"`
	ServingError string    `json:"serving_error"`
	Error        string    `json:"error"`
}

// evidence is what one fault recorded of the nodes it hit.
type evidence struct {
	Spec string
	// Rows: node, shards held, ring before → during, shards taken by,
	// taken after s, stopped, started, serving again, note.
	Rows [][]string
}

// evidenceMarkdown shows, per fault that recorded evidence, what each node
// held and how the cluster took it over: the shards a history host owned,
// who took them and how fast, and when the cluster served again.
func evidenceMarkdown(faults []FaultWindow) string {
	var b strings.Builder
	for _, e := range evidenceOf(faults) {
		fmt.Fprintf(&b, "### What `%s` hit\n\n", e.Spec)
		b.WriteString("| node | shards held | ring before → during | shards taken by | taken after s | stopped | started | serving again | note |\n|---|---|---|---|---:|---|---|---|---|\n")
		for _, row := range e.Rows {
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// evidenceOf reads the evidence of every fault that recorded some.
func evidenceOf(faults []FaultWindow) []evidence {
	var out []evidence
	for _, f := range faults {
		var rows []evidenceRow
		if len(f.Evidence) == 0 || json.Unmarshal(f.Evidence, &rows) != nil || len(rows) == 0 {
			continue
		}
		e := evidence{Spec: f.Spec}
		for _, r := range rows {
			taken, after := "-", "-"
			if r.Moved != nil {
				var by []string
				for _, n := range slices.Sorted(maps.Keys(r.Moved.TakenBy)) {
					by = append(by, fmt.Sprintf("%s %v", n, r.Moved.TakenBy[n]))
				}
				taken, after = strings.Join(by, "; "), fmt.Sprintf("%.1f", r.Moved.TakenAt.Sub(r.Moved.Since).Seconds())
			}
			ring := "-"
			if r.RingBefore != nil || r.RingDuring != nil {
				ring = fmt.Sprintf("%d → %d", len(r.RingBefore), len(r.RingDuring))
			}
			note := strings.Join(slices.DeleteFunc([]string{r.MoveError, r.ServingError, r.Error}, func(s string) bool { return s == "" }), "; ")
			shards := "-"
			if len(r.Shards) > 0 {
				shards = fmt.Sprint(r.Shards)
			}
			node := r.Node
			if r.To != "" {
				node += fmt.Sprintf(" (%s → %s)", r.From, r.To)
			}
			e.Rows = append(e.Rows, []string{node, shards, ring, taken, after,
				clockOrDash(r.StoppedAt), clockOrDash(r.StartedAt), clockOrDash(r.ServingAt), dash(note)})
		}
		out = append(out, e)
	}
	return out
}

// binaryLabel names a server version and whose binary ran it: squall's
// own server or an official temporal-server.
func binaryLabel(version, binary string) string {
	if binary == "" {
		return version + " (squall)"
	}
	return version + " (" + filepath.Base(binary) + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clockOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return clock(t)
}
