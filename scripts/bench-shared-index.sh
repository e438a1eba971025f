#!/usr/bin/env bash
# The agent's memory with N processes of one binary (issue "One house with rooms"): Debian's
# prometheus (50 MB, stripped) started N times, then `goscry agent --pid` on all of them.
# Per-binary facts and the symbol index are computed once per build-id and shared by every
# target of that binary, so the agent's RSS should grow little from 1 target to N. Prints
# the agent's peak and final RSS (file-backed and anonymous, /proc/PID/smaps_rollup) with 1
# target and with N, over the same run length. -g compares another goscry build.
#
# usage: scripts/bench-shared-index.sh [-n N] [-d SECONDS] [-g GOSCRY] [BUILD_DIR]   (as root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=10
duration=60
goscry=
while getopts "n:d:g:" opt; do
  case $opt in
    n) n=$OPTARG ;;
    d) duration=$OPTARG ;;
    g) goscry=$OPTARG ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
build=${1:-$here/../build}
goscry=${goscry:-$build/agent/goscry}
[ -x "$goscry" ] || { echo "no $goscry: build first (scripts/test.sh)" >&2; exit 1; }
prometheus=/usr/bin/prometheus
[ -x "$prometheus" ] || { echo "no $prometheus: scripts/setup.sh installs it" >&2; exit 1; }
work=$(mktemp -d /tmp/goscry-shared-index.XXXXXX)
pids=()
agent=
cleanup() {
  set +e
  [ -n "$agent" ] && kill "$agent" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

printf 'global:\n  scrape_interval: 1h\n' > "$work/prometheus.yml"
for i in $(seq "$n"); do
  "$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data$i" \
    --web.listen-address="127.0.0.1:$((29090 + i))" > "$work/prometheus$i.log" 2>&1 &
  pids+=($!)
done
sleep 5  # each has read its config and opened its TSDB

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$agent/smaps_rollup"; }

# One agent run over the first $1 processes: prints its peak and final RSS.
run_agent() {
  local targets=() peak=0 peak_file=0 peak_anon=0
  for p in "${pids[@]:0:$1}"; do targets+=(--pid "$p"); done
  "$goscry" agent "${targets[@]}" --listen 127.0.0.1:0 > "$work/agent.log" 2>&1 &
  agent=$!
  for _ in $(seq "$duration"); do
    sleep 1
    [ -r "/proc/$agent/smaps_rollup" ] || { echo "the agent exited:" >&2; cat "$work/agent.log" >&2; exit 1; }
    local rss
    rss=$(kib Rss)
    if [ "$rss" -gt "$peak" ]; then
      peak=$rss
      peak_anon=$(kib Anonymous)
      peak_file=$((rss - peak_anon))
    fi
  done
  local end_rss
  end_rss=$(kib Rss)
  kill "$agent"
  wait "$agent" 2>/dev/null || true
  agent=
  awk -v n="$1" -v p="$peak" -v f="$peak_file" -v a="$peak_anon" -v e="$end_rss" 'BEGIN {
    printf "%3d target(s): peak RSS %6.1f MiB (%.1f file-backed, %.1f anonymous), at the end %6.1f MiB\n",
      n, p / 1024, f / 1024, a / 1024, e / 1024 }'
}

echo "goscry: $goscry; $n x $prometheus; ${duration} s per agent run"
run_agent 1
run_agent "$n"
