#!/usr/bin/env bash
# Figures of goscry record: a CPU-bound target's throughput with goscry at 99 Hz and 19 Hz
# against none (goal >= 0.99 at 99 Hz), goscry's CPU and peak RSS, samples lost at 999 Hz.
# usage: scripts/bench-record.sh [BUILD_DIR] [ROUNDS] [SECONDS]   (needs root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
[ -f "$build/build.ninja" ] || cmake -S "$here/.." -B "$build" -G Ninja -DGOSCRY_GO_VERSIONS=local
ninja -C "$build" -j2 record_bench
GOSCRY_FIXTURE_DIR=$build/fixtures "$build/tests/bench/record_bench" "${2:-5}" "${3:-4}"
