#!/usr/bin/env bash
# make chaos-matrix: every load scenario of scripts/chaos.scenarios under
# every fault kind `squall list faults` knows, one at a time (the schedule
# of each is in scripts/chaos.single), plus the mixed schedule of
# `make chaos`, each a fresh run; then one matrix report (matrix.md,
# matrix.json, matrix.html) from `squall report matrix`. A cell that does
# not apply says why (OUT/SCENARIO/KIND.na). Long (about 8 x 13 runs of a
# minute or two; 89 minutes here): a nightly job, not a test.
#
# Usage: scripts/chaos-matrix.sh [SCENARIO...]   (default: all of them)
# Environment: CHAOS_OUT (output directory), CHAOS_MATRIX_CONTAINERS=1 also
# runs the container-* columns (on --cluster container; needs Docker),
# CHAOS_MATRIX_TOPOLOGY=1 the node columns of scripts/chaos.nodes (on
# --topology services --history-hosts 2 on PostgreSQL; rolling-upgrade
# starts the cluster on CHAOS_MATRIX_OLD_SERVER, default the official
# temporal-server of the embedded version, built by make temporal-server),
# CHAOS_MATRIX_KINDS="server-kill mixed" runs only those columns, replacing
# those cells if CHAOS_OUT already holds them (to run a failed cell again:
# the report takes every cell found there).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=./bin/squall
out=${CHAOS_OUT:-reports/out/chaos-matrix-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
common=(--duration 50s --grace 5m --verify-wait 3m)
api=(--fault 'api-errors at=3s for=4s rate=0.5') # the mixed schedule's, as in chaos.sh

mapfile -t kinds < <($bin list faults | awk '{print $1}')
declare -A single
while read -r kind rest; do
  single[$kind]="$kind $rest"
done < <(grep -v '^#' scripts/chaos.single | grep .)
declare -A nodes
while read -r column fault; do
  nodes[$column]="$fault"
  [[ " ${kinds[*]} " == *" $column "* ]] || kinds+=("$column")
done < <(grep -v '^#' scripts/chaos.nodes | grep .)
if [ "${CHAOS_MATRIX_TOPOLOGY:-}" = 1 ]; then
  admin_dsn=$(./scripts/ensure-postgres.sh) || exit 1
  old_server=${CHAOS_MATRIX_OLD_SERVER:-}
  if [ -z "$old_server" ]; then
    make -s temporal-server && old_server=$PWD/bin/temporal-server
  fi
fi

status=0
began=$(date +%s)
while IFS='|' read -r name load extra; do
  if [ $# -gt 0 ] && [[ ! " $* " == *" $name "* ]]; then continue; fi
  mkdir -p "$out/$name"
  for kind in "${kinds[@]}" mixed; do
    if [ -n "${CHAOS_MATRIX_KINDS:-}" ] && [[ ! " $CHAOS_MATRIX_KINDS " == *" $kind "* ]]; then continue; fi
    cell="$out/$name/$kind"
    faults=() cluster=()
    case $kind in
    mixed)
      faults=(--fault-file scripts/chaos.faults)
      [ "$extra" = api ] && faults+=("${api[@]}")
      ;;
    api-*)
      if [ "$extra" != api ]; then
        echo "$name has no fake external services: $kind acts on nothing" >"$cell.na"
        continue
      fi
      ;;
    rolling-downgrade)
      echo "needs a cluster on a newer binary and to=PATH of an older one: run it by hand (docs/topology.md)" >"$cell.na"
      continue
      ;;
    container-*)
      if [ "${CHAOS_MATRIX_CONTAINERS:-}" != 1 ]; then
        echo "needs the server in a container (--cluster container): this matrix ran on the embedded server; CHAOS_MATRIX_CONTAINERS=1 runs it" >"$cell.na"
        continue
      fi
      cluster=(--cluster container)
      ;;
    esac
    if [ -n "${nodes[$kind]:-}" ]; then
      if [ "${CHAOS_MATRIX_TOPOLOGY:-}" != 1 ]; then
        echo "aims at one node of a cluster of service processes (--topology services on PostgreSQL): CHAOS_MATRIX_TOPOLOGY=1 runs it" >"$cell.na"
        continue
      fi
      # A database per cell: each cell is a fresh cluster.
      db="chaos_$(echo "${name}_${kind}" | tr -c 'a-zA-Z0-9\n' _)_$(date +%s)"
      cluster=(--topology services --history-hosts 2 --persistence postgres --dsn "${admin_dsn%/*}/$db?sslmode=disable")
      [ "$kind" = rolling-upgrade ] && cluster+=(--server-binary "$old_server")
      faults=(--fault "${nodes[$kind]}")
    elif [ "$kind" != mixed ]; then
      if [ -z "${single[$kind]:-}" ]; then
        echo "no single-fault schedule for $kind in scripts/chaos.single" >"$cell.na"
        continue
      fi
      faults=(--fault "${single[$kind]}")
    fi
    echo "=== chaos-matrix: $name x $kind"
    start=$(date +%s)
    # shellcheck disable=SC2086
    $bin run --scenario "${name%@*}" $load "${common[@]}" "${cluster[@]}" "${faults[@]}" ${CHAOS_MATRIX_KINDS:+--overwrite} --out "$cell" >"$cell.log" 2>&1 </dev/null
    rc=$?
    echo "$rc" >"$cell.exit"
    echo "    exit $rc in $(( $(date +%s) - start ))s"
  done
done < <(grep -v '^#' scripts/chaos.scenarios | grep .)

echo
$bin report matrix "$out" || status=$?
echo "chaos-matrix: $(( $(date +%s) - began ))s in all; reports in $out"
exit $status
