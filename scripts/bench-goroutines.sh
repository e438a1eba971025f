#!/usr/bin/env bash
# The figures of issue 3, measured in one run (needs root):
#  - cost per goroutine: goscry's added ns against bare empty uprobes at the same points;
#  - HTTP requests/s with goscry against without; goscry's CPU and peak RSS meanwhile;
#  - what one uprobe hit costs by the kind of instruction it sits on (why the probes are
#    where they are: symbolizer/emulated_probes.h).
#
# usage: scripts/bench-goroutines.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${2:-5}
ninja -C "$build" -j2 goroutine_cost_bench http_overhead_bench probe_cost_bench >/dev/null
"$build/tests/bench/goroutine_cost_bench" "$rounds"
"$build/tests/bench/http_overhead_bench" "$rounds" 5
"$build/tests/bench/probe_cost_bench" "$rounds"
