#!/usr/bin/env bash
# make bench-driver: squall's driver alone, against the fake Temporal
# frontend (bench/fakefrontend), no server and no workers of squall's own.
#
#   BENCH_DRIVER_WORKFLOWS unset: open loop at rising rates until the driver
#     falls behind; the last line starts "ceiling:".
#   BENCH_DRIVER_WORKFLOWS=N: one run of N workflows (a million:
#     BENCH_DRIVER_WORKFLOWS=1000000) at BENCH_DRIVER_RATE/s, RSS sampled
#     throughout, verified, report rebuilt offline; the last line starts
#     "million:".
#
# Environment: BENCH_DRIVER_RATES (ceiling mode, e.g. 500,1000,2000),
# BENCH_DRIVER_STEP (per rate, e.g. 15s), BENCH_DRIVER_RATE (million mode),
# BENCH_DRIVER_OUT (directory), BENCH_DRIVER_ARGS (more squall run flags),
# BENCH_DRIVER_PROFILE=1 (cpu.pprof per run: go tool pprof bin/squall DIR/cpu.pprof).
# BENCH_DRIVER_SQUALL=PATH (the squall to drive: default bin/squall; bin/squall-lean
# is the build without server and container engine).
# BENCH_DRIVER_OMES=PATH (ceiling mode: also an omes binary at the same rates;
# docs/bench-driver.md says how to build one).
# A benchmark: run it on a quiet machine; its numbers are the machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/driverbench ./bench/cmd/driverbench
args=(-squall "${BENCH_DRIVER_SQUALL:-bin/squall}" -out "${BENCH_DRIVER_OUT:-bin/driverbench-out}")
[ -n "${BENCH_DRIVER_RATES:-}" ] && args+=(-rates "$BENCH_DRIVER_RATES")
[ -n "${BENCH_DRIVER_STEP:-}" ] && args+=(-step "$BENCH_DRIVER_STEP")
[ -n "${BENCH_DRIVER_RATE:-}" ] && args+=(-rate "$BENCH_DRIVER_RATE")
[ -n "${BENCH_DRIVER_ARGS:-}" ] && args+=(-args "$BENCH_DRIVER_ARGS")
[ "${BENCH_DRIVER_PROFILE:-0}" = 1 ] && args+=(-cpu-profile)
[ -n "${BENCH_DRIVER_OMES:-}" ] && args+=(-omes "$BENCH_DRIVER_OMES")
[ -n "${BENCH_DRIVER_WORKFLOWS:-}" ] && args+=(-workflows "$BENCH_DRIVER_WORKFLOWS")
exec ./bin/driverbench "${args[@]}"
