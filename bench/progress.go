package bench

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Progress shows a run as it goes: one live status line on a terminal,
// rewritten every interval; a plain log line every LogEvery otherwise (CI
// logs should not fill with carriage returns).
type Progress struct {
	Out      io.Writer
	TTY      bool
	LogEvery time.Duration
	Scenario string

	lastLog time.Time
	shown   bool
}

// Update shows the state after interval iv; totals and p99 are the run's so far.
func (p *Progress) Update(iv Interval, totals Counts, p99 time.Duration, elapsed time.Duration) {
	secs := iv.End.Sub(iv.Start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(iv.Started) / secs
	}
	line := fmt.Sprintf("%s %5.0fs  started %d  completed %d  failed %d  in-flight %d  late %d  dropped %d  rate %.1f/s  p99 %s",
		p.Scenario, elapsed.Seconds(), totals.Started, totals.Completed, totals.Failed, iv.InFlight,
		totals.Late, totals.Dropped, rate, p99.Round(100*time.Microsecond))
	if p.TTY {
		fmt.Fprintf(p.Out, "\r\033[K%s", line)
		p.shown = true
		return
	}
	if iv.End.Sub(p.lastLog) < p.LogEvery {
		return
	}
	p.lastLog = iv.End
	slog.New(slog.NewTextHandler(p.Out, nil)).Info("progress", "scenario", p.Scenario,
		"elapsed", elapsed.Round(time.Second).String(), "started", totals.Started, "completed", totals.Completed,
		"failed", totals.Failed, "in_flight", iv.InFlight, "late", totals.Late, "dropped", totals.Dropped,
		"rate_per_s", fmt.Sprintf("%.1f", rate), "p99", p99.Round(100*time.Microsecond).String())
}

// Done ends the live line so that what follows starts on a fresh line.
func (p *Progress) Done() {
	if p.TTY && p.shown {
		fmt.Fprintln(p.Out)
	}
}
