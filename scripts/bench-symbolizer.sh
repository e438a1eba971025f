#!/usr/bin/env bash
# Builds and runs the symbolizer benchmark on the largest Go binary at hand: the
# toolchain's own compiler (or BINARY). Prints open+index time, warm lookups/s, the ratio
# against `go tool addr2line` on the same 100,000 PCs (in process, one lookup at a time and
# batched, and `goscry symbolize --exe BINARY -` as a process), and index memory per MiB.
#
# usage: scripts/bench-symbolizer.sh [BINARY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${BUILD_DIR:-$root/build}
go=$("$here/go-env.sh" --print-go)
binary=${1:-$("$go" env GOROOT)/pkg/tool/$("$go" env GOOS)_$("$go" env GOARCH)/compile}
[ -f "$build/build.ninja" ] || cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C "$build" -j2 symbolizer_bench goscry
"$build/tests/bench/symbolizer_bench" "$binary" "$go" "$build/agent/goscry"
