#!/usr/bin/env bash
# Big-binary figures (issue 13): on the largest Go binaries at hand, per binary, the
# symbolizer's figures (size, functions, open + index, warm lookups/s one at a time and
# batched, and how many of 2,000 of those PCs `go tool addr2line` answers alike, so that the
# speed is of right answers), then the wall time and peak RSS of `goscry info`, `goscry
# symbolize` (10,000 of the PCs), `goscry dump` and `goscry record -d 5s` on a running
# instance of it. Goals (issue 2): open + index < 50 ms, >= 1,000,000 lookups/s.
#
# The binaries: Debian's prometheus and hugo (scripts/setup.sh), the realworld suite's
# servers (scripts/build-realworld.sh), and any terraform provider under /opt/tf-plugins
# (the largest Go binaries on some machines; `-debug` runs one on its own).
#
# usage: scripts/bench-bigbin.sh [BUILD_DIR]   (as root: record needs BPF)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
go=$("$here/go-env.sh" --print-go)
[ -f "$build/build.ninja" ] || cmake -S "$root" -B "$build" -G Ninja
ninja -C "$build" -j2 symbolizer_bench goscry realworld_servers >/dev/null
goscry=$build/agent/goscry
work=$(mktemp -d /tmp/goscry-bigbin.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts "$@" in the background, its output in $work/run.log; returns once `ready` (an
# extended regex) appears in that output, or after 120 s.
start() {
  local ready=$1
  shift
  "$@" >"$work/run.log" 2>&1 &
  pid=$!
  for _ in $(seq 1200); do
    grep -qE "$ready" "$work/run.log" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "exited: $*" >&2; cat "$work/run.log" >&2; return 1; }
    sleep 0.1
  done
  echo "not ready within 120 s: $*" >&2
  return 1
}

# "wall s / peak RSS MiB" of one goscry command (its output thrown away), "!" after a
# non-zero exit.
measure() {
  local status=0
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || status=$?
  awk -v s="$([ "$status" -eq 0 ] || echo " !$status")" \
    'END { printf "%.2f s %.0f MiB%s", $1, $2 / 1024, s }' "$work/time"
}

# The symbolizer's line for the binary, then the four verbs on the instance `start` ran.
bench() {
  local name=$1 bin=$2
  printf "%-22s" "$name"
  "$build/tests/bench/symbolizer_bench" --figures "$bin" "$work/pcs" | cut -c23-
  printf "%-22s info %s | symbolize %s | dump %s | record -d 5s %s\n" "" \
    "$(measure "$goscry" info --pid "$pid")" \
    "$(measure "$goscry" symbolize --pid "$pid" - <"$work/pcs")" \
    "$(measure "$goscry" dump --pid "$pid")" \
    "$(measure "$goscry" record --pid "$pid" -d 5s -o "$work/record.pb.gz")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

echo "times: CPU time of the benchmark's thread for open/lookups (best of 5 opens; first open"
echo "in brackets), wall time and peak RSS for the verbs; lookups/s with full inline expansion"
printf "%-22s %8s %9s %8s %8s %11s %11s %s\n" binary MiB functions "open ms" "(first)" \
  "lookups/s" "batch/s" "addr2line agrees"

if command -v prometheus >/dev/null; then
  printf 'global: {}\n' >"$work/prometheus.yml"
  start "Server is ready" prometheus --config.file="$work/prometheus.yml" \
    --storage.tsdb.path="$work/prometheus-data" --web.listen-address="127.0.0.1:$(free_port)"
  bench prometheus "$(command -v prometheus)"
fi
if command -v hugo >/dev/null; then
  hugo new site "$work/site" >/dev/null
  start "Web Server is available" hugo server --source "$work/site" --bind 127.0.0.1 \
    --port "$(free_port)" --disableLiveReload
  bench "hugo server" "$(command -v hugo)"
fi
manifest=$build/realworld/manifest.txt
if [ -f "$manifest" ]; then
  while read -r name bin; do
    port=$(free_port)
    case $name in
      victoria-metrics)
        start "started server" "$bin" -storageDataPath="$work/vm-data" \
          -httpListenAddr="127.0.0.1:$port" ;;
      nats-server) start "Server is ready" "$bin" -a 127.0.0.1 -p "$port" ;;
      *) continue ;;
    esac
    bench "$name" "$bin"
  done <"$manifest"
fi
for bin in $(find /opt/tf-plugins -type f -name 'terraform-provider-*' 2>/dev/null); do
  "$go" version "$bin" >/dev/null 2>&1 || continue
  start "Provider started" "$bin" -debug
  bench "$(basename "$bin" | cut -d_ -f1)" "$bin"
done
