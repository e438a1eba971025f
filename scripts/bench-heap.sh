#!/usr/bin/env bash
# Figures of goscry heap: the time to take the heap profile of a program with 10,000
# distinct allocation stacks (goal < 100 ms, no pause of the target), and that program's
# throughput while its heap is read every 10 s against alone (goal >= 0.995; ~3 min).
# usage: scripts/bench-heap.sh [BUILD_DIR]   (needs read access to the target: root or
# CAP_SYS_PTRACE, or the same user)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
[ -f "$build/build.ninja" ] || cmake -S "$here/.." -B "$build" -G Ninja -DGOSCRY_GO_VERSIONS=local
ninja -C "$build" -j2 heap_bench
GOSCRY_FIXTURE_DIR=$build/fixtures "$build/tests/bench/heap_bench"
