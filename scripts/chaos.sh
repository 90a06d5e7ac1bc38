#!/usr/bin/env bash
# make chaos: every load scenario at moderate scale under one mixed fault
# schedule (worker kill, network latency, server kill, network partition,
# persistence errors incl. ExecuteAndTimeout, and API errors where the
# scenario has fake services). Every run must end with zero lost workflows
# and zero invariant violations; the script exits non-zero otherwise.
# The scenarios and their loads are scripts/chaos.scenarios.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=./bin/squall
out=${CHAOS_OUT:-reports/out/chaos-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"

# The mixed schedule is scripts/chaos.faults. api-errors (only where the
# scenario has fake services) comes first, while the cluster is healthy:
# placed after the persistence faults it fell into their recovery, when
# orders-batch had no activity running to refuse (measured: 0 requests
# refused).
api=(--fault 'api-errors at=3s for=4s rate=0.5')
common=(--duration 50s --grace 5m --verify-wait 3m)

# scenario | its load and options | "api" (scripts/chaos.scenarios)
mapfile -t runs < <(grep -v '^#' scripts/chaos.scenarios | grep .)
[ $# -gt 0 ] && runs=("$@") # e.g. scripts/chaos.sh "noop|--rate 10/s|"

status=0
summary=()
for spec in "${runs[@]}"; do
  IFS='|' read -r name load extra <<<"$spec"
  faults=(--fault-file scripts/chaos.faults)
  [ "$extra" = api ] && faults+=("${api[@]}")
  echo "=== chaos: $name"
  start=$(date +%s)
  # shellcheck disable=SC2086
  $bin run --scenario "${name%@*}" $load "${common[@]}" "${faults[@]}" --out "$out/$name"
  rc=$?
  summary+=("$name: exit $rc in $(( $(date +%s) - start ))s")
  [ $rc -eq 0 ] || status=1
done
echo
echo "chaos summary (reports in $out):"
printf '  %s\n' "${summary[@]}"
exit $status
