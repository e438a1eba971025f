#!/usr/bin/env bash
# The demo: sets up, builds goscry, starts a small Go order service (tests/fixtures/demo)
# that leaks a goroutine per timed-out order, and looks inside it without touching it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GOSCRY_BUILD_DIR:-$root/build-demo}

"$root/scripts/setup.sh"
go=$("$root/scripts/go-env.sh" --print-go)
cmake -S "$root" -B "$build" -G Ninja -DGOSCRY_TESTS=OFF >/dev/null
cmake --build "$build" --target goscry
(cd "$root/tests/fixtures" && GOFLAGS=-buildvcs=false "$go" build -o "$build/demo" ./demo)
goscry="$build/agent/goscry"

"$build/demo" > "$build/demo.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until grep -q serving "$build/demo.log"; do sleep 0.1; done
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "demo: a Go service is running as pid $pid ($(cat "$build/demo.log"))"
step "$goscry" info --pid "$pid"
newproc=$("$goscry" info --pid "$pid" | awk '$1 == "runtime.newproc1" { print $2 }')
if [ -n "$newproc" ]; then step "$goscry" symbolize --pid "$pid" "$newproc"; fi
step "$goscry" top --pid "$pid" --once
step "$goscry" gc --pid "$pid" -d 5s
echo; echo "(the first goroutines of a dump, in Go's own traceback format)"
"$goscry" dump --pid "$pid" > "$build/dump.txt"
head -n 24 "$build/dump.txt"; echo "... (all of it in $build/dump.txt)"
step "$goscry" record --pid "$pid" -d 5s -o "$build/cpu.svg"
echo "demo: open $build/cpu.svg in a browser for the flame graph"
echo; echo "(watching for goroutine leaks for 30 s: the service leaks one per timed-out order)"
step "$goscry" leaks --pid "$pid" -d 30s || true
