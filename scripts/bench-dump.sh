#!/usr/bin/env bash
# Figures of goscry dump and goscry leaks: dump time at 1,000 / 10,000 / 100,000 goroutines,
# the dump verb's wall time, peak RSS (text, json) and --pause stop at 100,000,
# target pause with --pause at 10,000, leak detection latency at 1 leak/s.
# usage: scripts/bench-dump.sh [BUILD_DIR]   (needs root or CAP_SYS_PTRACE)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
[ -f "$build/build.ninja" ] || cmake -S "$here/.." -B "$build" -G Ninja -DGOSCRY_GO_VERSIONS=local
ninja -C "$build" -j2 dump_bench
GOSCRY_FIXTURE_DIR=$build/fixtures "$build/tests/bench/dump_bench"
