#!/usr/bin/env bash
# The entity scenario's storm mode at rising message rates per entity: each
# step sends bursts of BURST transactions to every entity once a second, so
# an entity receives BURST messages/s while it must still continue as new
# (can=events:50) without losing or double-applying any. Prints one line
# per step and ends with the highest rate per entity whose run passed with
# storm-continued-as-new held.
#
#   scripts/storm-sweep.sh                         # signals and updates
#   STORM_MESSAGES=update STORM_BURSTS=10,20,40 scripts/storm-sweep.sh
#
# Environment: STORM_MESSAGES (message kinds, comma-separated), STORM_BURSTS
# (transactions per burst), STORM_ENTITIES (default 2), STORM_DURATION
# (default 40s), STORM_OUT (directory, default bin/storm-sweep), SQUALL
# (binary, default bin/squall). A benchmark: run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
squall=${SQUALL:-bin/squall}
entities=${STORM_ENTITIES:-2}
duration=${STORM_DURATION:-40s}
out=${STORM_OUT:-bin/storm-sweep}
IFS=, read -r -a messages <<<"${STORM_MESSAGES:-signal,update}"
IFS=, read -r -a bursts <<<"${STORM_BURSTS:-10,20,40,80,160}"
mkdir -p "$out"
for m in "${messages[@]}"; do
  best=0
  for b in "${bursts[@]}"; do
    dir="$out/$m-$b"
    rm -rf "$dir"
    # One iteration per entity per second: the rate is the entity count.
    set +e
    "$squall" run --scenario entity --option entities="$entities" --option burst="$b" \
      --option message="$m" --option malformed-every=0 --option can=events:50 \
      --rate "$entities/s" --duration "$duration" --out "$dir" >"$dir.log" 2>&1
    code=$?
    set -e
    line=$(jq -r --arg m "$m" --arg b "$b" --arg code "$code" '
      .scenarios[0] as $s
      | ($s.invariants // [] | map(select(.name == "storm-continued-as-new"))[0].ok // "n/a") as $storm
      | ($s.invariants // [] | map(select(.ok == false) | .name) | join(",")) as $broken
      | ($s.details.runs_per_entity // {}) as $runs
      | ($s.details.continue_as_new.by_trigger // {}) as $trig
      | (if $s.histograms_ms["update-completed"] then ["update-completed", $s.histograms_ms["update-completed"]]
         elif $s.histograms_ms["signal-to-processed"] then ["signal-to-processed", $s.histograms_ms["signal-to-processed"]]
         else ["corrected", $s.latency_ms.corrected] end) as $lat
      | "\($m) burst=\($b)/s per entity: exit \($code), storm-continued-as-new \($storm), runs per entity \($runs.min // "?")..\($runs.max // "?"), continue-as-new by trigger \($trig | tostring), \($lat[0]) p50/p99 \($lat[1].p50 // 0 | round)/\($lat[1].p99 // 0 | round) ms, throughput \($s.throughput_per_s // 0 | . * 10 | round / 10) iterations/s\(if $broken != "" then ", broken: " + $broken else "" end)"
    ' "$dir/report.json" 2>/dev/null || echo "$m burst=$b/s per entity: exit $code, no report.json (see $dir.log)")
    echo "$line"
    if [ "$code" = 0 ] && grep -q "storm-continued-as-new true" <<<"$line"; then best=$b; fi
  done
  echo "storm: $m highest rate per entity that passed and continued as new: $best/s (entities $entities, $duration per step)"
done
