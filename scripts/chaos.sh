#!/usr/bin/env bash
# make chaos: each scenario under a mixed fault schedule. Exits non-zero if
# any run's verdict fails. Reports land in reports/out/chaos-<time>/<scenario>.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=./bin/squall
out=reports/out/chaos-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

# The mixed schedule, for a 60 s load.
mixed=(
  --fault 'worker-kill at=8s for=3s'
  --fault 'net-latency at=15s for=5s latency=150ms'
  --fault 'server-kill at=24s for=3s'
  --fault 'net-partition at=33s for=3s'
  --fault 'persistence-errors at=40s for=5s store=ExecutionStore method=* error=Unavailable rate=0.1'
  --fault 'persistence-errors at=48s for=4s store=ExecutionStore method=UpdateWorkflowExecution error=ExecuteAndTimeout rate=0.1'
)
common=(--grace 5m --verify-wait 3m)

declare -A runs
runs[noop]="--rate 15/s --duration 60s"
status=0
for name in "${!runs[@]}"; do
  echo "=== chaos: $name"
  # shellcheck disable=SC2086
  $bin run --scenario "$name" ${runs[$name]} "${common[@]}" "${mixed[@]}" --out "$out/$name"
  rc=$?
  echo "=== chaos: $name exit $rc"
  [ $rc -eq 0 ] || status=1
done
echo "chaos reports: $out"
exit $status
