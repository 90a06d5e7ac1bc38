#!/usr/bin/env bash
# gate-calibrate.sh: measure how often `squall compare` cries wolf and how
# often it catches a real slowdown, on this machine, with the settings a CI
# job would use. Not a test: it runs real load for a long time.
#
# For each of N comparisons it runs, interleaved, RUNS noop runs of each of
# three sides into OUT/cmp-i/{base,same,slow}/run-k:
#   base  the control
#   same  identical to base              -> compare base same: a flag is a false alarm
#   slow  base with added network latency -> compare base slow: a flag is a catch
# All three sides go through the fault proxy (base and same with 0 ms
# added), so the only difference of slow is the latency itself.
#
# Usage: scripts/gate-calibrate.sh [-n N] [-r RUNS] [-d DURATION] [-R RATE] [-l LATENCY] [-o OUT] [-b BIN] [-- COMPARE_FLAGS...]
#   -n  comparisons per experiment (default 10)
#   -r  runs per side and comparison (default 8; 1 uses the single-run bootstrap)
#   -d  load duration of each run (default 30s)
#   -R  open-loop rate (default 20/s)
#   -l  latency added on the slow side (default 2ms, each direction; "1ms direction=upstream"
#       for one direction only; calibrate it
#       so that the slow side's p50 is about 20 % above base, see the printed change)
#   -o  output directory (default reports/out/gate-calibrate-<timestamp>)
#   -b  squall binary (default bin/squall; `make build` makes it)
# Flags after -- go to every `squall compare` (e.g. --max-regression 10%).
set -euo pipefail

N=10 RUNS=8 DURATION=30s RATE=20/s LATENCY=2ms BIN=bin/squall
OUT="reports/out/gate-calibrate-$(date -u +%Y%m%dT%H%M%SZ)"
while getopts "n:r:d:R:l:o:b:h" opt; do
	case $opt in
	n) N=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	d) DURATION=$OPTARG ;;
	R) RATE=$OPTARG ;;
	l) LATENCY=$OPTARG ;;
	o) OUT=$OPTARG ;;
	b) BIN=$OPTARG ;;
	h) sed -n '2,25p' "$0"; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ ${1:-} == -- ]] && shift
COMPARE_FLAGS=("$@")

if [[ ! -x $BIN ]]; then
	echo "gate-calibrate: no squall binary at $BIN: run 'make build' or pass -b" >&2
	exit 2
fi
mkdir -p "$OUT"
log="$OUT/calibrate.log"
echo "gate-calibrate: $N comparisons x $RUNS runs a side, noop $RATE for $DURATION, slow side +$LATENCY per direction; output in $OUT" | tee "$log"

# The fault covers the whole load.
whole="for=$DURATION"
run_one() { # side dir latency
	local dir=$2 lat=$3 rc=0
	"$BIN" run --scenario noop --rate "$RATE" --duration "$DURATION" --out "$dir" \
		--fault "net-latency at=0s $whole latency=$lat" >"$dir.log" 2>&1 || rc=$?
	if [[ ! -f $dir/report.json ]]; then
		echo "gate-calibrate: $1 run $dir wrote no report.json (exit $rc); see $dir.log" >&2
		exit 2
	fi
	# Exit 1 is a failed verdict of the run itself (a lost workflow...):
	# worth knowing, still comparable.
	[[ $rc == 0 ]] || echo "  note: $dir exit $rc (verdict failed; see $dir.log)" | tee -a "$log"
}

compare_one() { # base current -> prints 0 (not flagged) or 1 (flagged)
	local rc=0
	"$BIN" compare "$1" "$2" "${COMPARE_FLAGS[@]}" >"$2.compare.txt" 2>&1 || rc=$?
	if [[ $rc == 2 ]]; then
		echo "gate-calibrate: compare $1 $2 failed; see $2.compare.txt" >&2
		exit 2
	fi
	echo "$rc"
}

p50() { # median whole-run corrected p50 of a side, in ms
	python3 -c 'import json,sys,glob,statistics
v=[json.load(open(f))["scenarios"][0]["latency_ms"]["corrected"]["p50"] for f in glob.glob(sys.argv[1]+"/run-*/report.json")]
print("%.1f" % statistics.median(v))' "$1"
}

start=$(date +%s)
false_alarms=0 caught=0
for i in $(seq 1 "$N"); do
	c="$OUT/cmp-$i"
	mkdir -p "$c/base" "$c/same" "$c/slow"
	t0=$(date +%s)
	for k in $(seq 1 "$RUNS"); do
		# Interleaved, so a drift of the machine hits every side alike.
		run_one base "$c/base/run-$k" 0ms
		run_one same "$c/same/run-$k" 0ms
		run_one slow "$c/slow/run-$k" "$LATENCY"
	done
	fa=$(compare_one "$c/base" "$c/same")
	hit=$(compare_one "$c/base" "$c/slow")
	false_alarms=$((false_alarms + fa))
	caught=$((caught + hit))
	echo "comparison $i: identical flagged=$fa  slowed flagged=$hit  p50 base $(p50 "$c/base") ms, same $(p50 "$c/same") ms, slow $(p50 "$c/slow") ms  ($(($(date +%s) - t0)) s)" | tee -a "$log"
done
elapsed=$(($(date +%s) - start))
{
	echo "false alarms: $false_alarms of $N comparisons of identical runs (goal <= 1)"
	echo "caught:       $caught of $N comparisons with +$LATENCY per direction (goal >= 9)"
	echo "wall time:    ${elapsed}s in all; one CI comparison (2 sides x $RUNS runs) ~ $((elapsed * 2 / 3 / N))s"
} | tee -a "$log"
