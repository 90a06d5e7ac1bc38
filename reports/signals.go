package reports

// squallP99 returns, for report.md's server-signal rows, the highest
// corrected p99 of the first scenario's 1 s intervals ending within
// (fromS, toS] (seconds since its load began, as the samples count).
// Interval p99s cannot be merged into the span's own p99; the worst of
// them is what a reader compares with the server's signals.
func squallP99(rep *Report) func(fromS, toS float64) (float64, bool) {
	if len(rep.Scenarios) == 0 {
		return nil
	}
	rows := rep.Scenarios[0].Intervals
	return func(fromS, toS float64) (float64, bool) {
		best, ok := 0.0, false
		for _, iv := range rows {
			// Half a second of slack: intervals and samples are cut by
			// the same tick, but the offsets are taken separately.
			if iv.OffsetS > fromS+0.5 && iv.OffsetS <= toS+0.5 && iv.Completed > 0 {
				best, ok = max(best, iv.P99MS), true
			}
		}
		return best, ok
	}
}
