#!/usr/bin/env bash
# A soak that survives its own crash: a steady open-loop load for
# SOAK_DURATION with a fault every SOAK_FAULT_EVERY (the kinds in turn), the
# driver killed with SIGKILL at SOAK_KILL_AT and the run continued at once by
# `squall run --resume`. The resumed run verifies every journaled workflow
# and writes one report for the whole run, the gap marked and the trends
# (p99, in flight, RSS and CPU per window) with their findings. Exits with
# the resumed run's code (0: pass).
#
#   scripts/soak.sh                                  # 1 h at 10/s, kill at 28 min
#   SOAK_DURATION=20m SOAK_KILL_AT=8m scripts/soak.sh
#   SOAK_KILL_AT=0 scripts/soak.sh                   # no crash
#
# Environment: SOAK_SCENARIO (default noop), SOAK_RATE (10/s), SOAK_DURATION
# (1h), SOAK_WORKERS (2), SOAK_FAULT_EVERY (10m), SOAK_FAULT_KINDS
# (worker-kill,server-pause,net-latency,server-kill), SOAK_KILL_AT (28m, between two faults; 0:
# no kill), SOAK_OUT (run directory, default bin/soak), SQUALL (binary,
# default bin/squall). A benchmark: run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
squall=${SQUALL:-bin/squall}
out=${SOAK_OUT:-bin/soak}
kill_at=${SOAK_KILL_AT:-28m}
rm -rf "$out"
mkdir -p "$(dirname "$out")"
log="$out.log"
args=(run --scenario "${SOAK_SCENARIO:-noop}" --rate "${SOAK_RATE:-10/s}"
  --duration "${SOAK_DURATION:-1h}" --workers "${SOAK_WORKERS:-2}"
  --fault-every "${SOAK_FAULT_EVERY:-10m}"
  --fault-kinds "${SOAK_FAULT_KINDS:-worker-kill,server-pause,net-latency,server-kill}"
  --out "$out")
echo "soak: $squall ${args[*]}" | tee "$log"
set +e
if [[ $kill_at == 0 ]]; then
  "$squall" "${args[@]}" >>"$log" 2>&1
  code=$?
else
  "$squall" "${args[@]}" >>"$log" 2>&1 &
  pid=$!
  sleep "$kill_at"
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    echo "soak: driver $pid killed with SIGKILL at $kill_at ($(date -u +%T))" | tee -a "$log"
    # The driver's children (server, workers) die with it (SIGKILL on the
    # parent's death): give the kernel a moment to free their ports.
    sleep 2
    echo "soak: $squall run --resume $out" | tee -a "$log"
    "$squall" run --resume "$out" >>"$log" 2>&1
    code=$?
  else
    wait "$pid"
    code=$?
    echo "soak: the run ended before $kill_at: nothing to kill" | tee -a "$log"
  fi
fi
set -e
if [[ -f $out/report.json ]]; then
  jq -r '.scenarios[0] as $s | "soak: verdict \(.verdict); started \($s.started), completed \($s.completed), failed \($s.failed), lost \($s.lost), verified during the load \($s.verification.verified_during_load // 0)"' \
    "$out/report.json" | tee -a "$log"
  awk '/^### Trends/ {p = 1} /^<details>/ {p = 0} p' "$out/report.md" | tee -a "$log"
fi
echo "soak: exit $code; report $out/report.md, log $log"
exit "$code"
