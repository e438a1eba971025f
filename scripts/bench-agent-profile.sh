#!/usr/bin/env bash
# Issue 5's agent figure, measured in one run (needs root): `goscry agent`'s own CPU (% of
# one core, from its utime+stime) and RSS while it profiles N busy targets (the cpuburn
# fixture, one burning goroutine per CPU each) at the agent rate, over a fixed window after
# every target is tracked. Goal: < 1 % of a core at 19 Hz with 10 targets.
#
# usage: scripts/bench-agent-profile.sh [BUILD_DIR] [TARGETS] [SECONDS] [HZ]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
n=${2:-10}
secs=${3:-30}
hz=${4:-19}
goscry=$build/agent/goscry
fixture=$(ls "$build"/fixtures/*/cpuburn-plain 2>/dev/null | head -1)
[ -x "$goscry" ] && [ -n "$fixture" ] || {
  echo "bench-agent-profile: build goscry and the fixtures first (scripts/test.sh)" >&2
  exit 2
}

pids=()
agent=
log=$(mktemp)
cleanup() {
  [ -n "$agent" ] && kill "$agent" 2>/dev/null
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

for _ in $(seq "$n"); do
  "$fixture" >/dev/null &
  pids+=($!)
done
args=()
for p in "${pids[@]}"; do args+=(--pid "$p"); done
"$goscry" agent "${args[@]}" --profile-hz "$hz" --listen 127.0.0.1:0 >"$log" 2>&1 &
agent=$!

metric() {  # the value of an unlabelled series of the agent's /metrics
  curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
ticks() {  # utime + stime of the agent, in clock ticks
  awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$agent/stat"
}

for _ in $(seq 200); do grep -q '^listening on' "$log" && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
[ -n "$port" ] || { cat "$log" >&2; exit 1; }
for _ in $(seq 300); do [ "$(metric goscry_targets)" = "$n" ] && break; sleep 0.1; done
[ "$(metric goscry_targets)" = "$n" ] || { echo "not every target tracked" >&2; cat "$log" >&2; exit 1; }
sleep 3  # the first drains symbolize every stack once: the steady state comes after

t0=$(ticks)
s0=$(metric goscry_cpu_samples_total)
sleep "$secs"
t1=$(ticks)
s1=$(metric goscry_cpu_samples_total)
lost=$(metric goscry_cpu_samples_lost_total)
read -r rss hwm < <(awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { print r, h }' "/proc/$agent/status")
tck=$(getconf CLK_TCK)
awk -v t="$((t1 - t0))" -v tck="$tck" -v secs="$secs" -v n="$n" -v hz="$hz" \
    -v s0="$s0" -v s1="$s1" -v lost="$lost" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
  printf "agent, %d busy targets at %d Hz, %d s: CPU %.2f %% of one core (%.2f s), %.0f samples/s, %s lost; RSS %.1f MiB (peak %.1f MiB)\n",
         n, hz, secs, 100 * t / tck / secs, t / tck, (s1 - s0) / secs, lost, rss / 1024, hwm / 1024
}'
