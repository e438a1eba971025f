#!/usr/bin/env bash
# Fleet figures (issue 15): `goscry agent --all` next to N Go processes of many distinct
# binaries, as on a node of a DaemonSet. Prints, over the run: the agent's peak RSS split
# into file-backed and anonymous pages (/proc/PID/smaps_rollup at the peak), its file
# descriptors, its CPU averaged over the run (utime + stime over wall time), how many targets
# it tracks, and the /metrics render time (median of 10 scrapes) and size. Goals (issue 15):
# peak RSS <= 96 MiB, CPU <= 1 % of a core, /metrics <= 20 ms.
#
# The processes: the fixtures hello and quiescent of every toolchain and variant (they block
# on stdin), the realworld suite's servers (scripts/build-realworld.sh), Debian's prometheus,
# and every kubectl of the Google Cloud SDK that is at hand (`kubectl proxy`: 50-60 MB each,
# the >= 50 MB binaries) — started round-robin until N run.
#
# usage: scripts/bench-fleet.sh [-n N] [-d SECONDS] [-c AGENT_CONFIG_YAML] [-g GOSCRY] [BUILD_DIR]
#   -n  processes (default 100)   -d  seconds the agent runs once all are up (default 90)
#   -c  extra agent config lines (e.g. 'symbol_cache_mib: 32')
#   -g  the goscry binary to run (default BUILD_DIR/agent/goscry; to compare two builds)
# As root (the agent attaches BPF probes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=100
duration=90
extra_config=
goscry=
while getopts "n:d:c:g:" opt; do
  case $opt in
    n) n=$OPTARG ;;
    d) duration=$OPTARG ;;
    c) extra_config=$OPTARG ;;
    g) goscry=$OPTARG ;;
    *) sed -n '2,19p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
build=${1:-$root/build}
goscry=${goscry:-$build/agent/goscry}
[ -x "$goscry" ] || { echo "no $goscry: build first (scripts/test.sh)" >&2; exit 1; }
work=$(mktemp -d /tmp/goscry-fleet.XXXXXX)
pids=()
agent=
cleanup() {
  set +e  # every step runs, whatever the one before returned
  [ -n "$agent" ] && kill "$agent" 2>/dev/null
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One command line per binary, tab-separated words; "@W" is replaced by a fresh directory.
commands=()
while read -r _ name variant path; do
  case $name in
    hello) commands+=("$path	wait") ;;
    quiescent) commands+=("$path	-n	10") ;;
  esac
done <"$build/fixtures/manifest.txt"
if [ -f "$build/realworld/manifest.txt" ]; then
  while read -r name path; do
    case $name in
      nats-server) commands+=("$path	-a	127.0.0.1	-p	0	-m	0") ;;
      victoria-metrics) commands+=("$path	-httpListenAddr=127.0.0.1:0	-storageDataPath=@W") ;;
    esac
  done <"$build/realworld/manifest.txt"
fi
if [ -x /usr/bin/prometheus ]; then
  : >"$work/prometheus.yml"
  commands+=("/usr/bin/prometheus	--config.file=$work/prometheus.yml	--storage.tsdb.path=@W	--web.listen-address=127.0.0.1:0")
fi
for k in /usr/lib/google-cloud-sdk/bin/kubectl /usr/lib/google-cloud-sdk/bin/kubectl.1.*; do
  [ -x "$k" ] && commands+=("$k	proxy	--port=0	--server=http://127.0.0.1:1")
done

# Every fixture reads stdin until EOF: one FIFO kept open by this script feeds them all.
mkfifo "$work/stdin"
exec 3<>"$work/stdin"
big=0
for c in "${commands[@]}"; do
  bin=${c%%	*}
  [ "$(stat -c %s "$bin")" -ge 50000000 ] && big=$((big + 1))
done
echo "binaries: ${#commands[@]} distinct, $big of >= 50 MB; processes: $n"
for ((i = 0; i < n; i++)); do
  c=${commands[i % ${#commands[@]}]}
  mkdir -p "$work/w$i"
  IFS=$'\t' read -r -a argv <<<"${c//@W/$work/w$i}"
  (cd "$work/w$i" && exec "${argv[@]}" <&3 >"$work/w$i.log" 2>&1) &
  pids+=($!)
done

port=$(free_port)
cat >"$work/agent.yml" <<EOF
listen: 127.0.0.1:$port
log_level: warn
$extra_config
EOF
start=$(date +%s.%N)
"$goscry" agent --all --config "$work/agent.yml" >"$work/agent.log" 2>&1 &
agent=$!
url=http://127.0.0.1:$port
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$agent/smaps_rollup"; }
tracked() { curl -s "$url/metrics" | awk '/^goscry_targets /{print $2}'; }
# One line per agent thread: its tid, its name (spaces made _), its utime + stime in ticks.
thread_ticks() {
  local t
  for t in /proc/"$agent"/task/*; do
    awk -v tid="${t##*/}" -v name="$(tr ' ' _ <"$t/comm" 2>/dev/null)" \
      '{ sub(/.*\) /, ""); print tid, name, $12 + $13 }' "$t/stat" 2>/dev/null || true
  done
}

# Sample once a second: the peak RSS with its split, fds at the peak.
peak=0 peak_file=0 peak_anon=0 peak_fds=0 max_fds=0
ticks0=$(cpu_ticks)
thread_ticks >"$work/threads0"
end=$(($(date +%s) + duration))
while [ "$(date +%s)" -lt "$end" ]; do
  kill -0 "$agent" 2>/dev/null || { echo "agent exited:" >&2; cat "$work/agent.log" >&2; exit 1; }
  rss=$(kb Rss)
  fds=$(ls "/proc/$agent/fd" | wc -l)
  [ "$fds" -gt "$max_fds" ] && max_fds=$fds
  if [ "$rss" -gt "$peak" ]; then
    peak=$rss peak_file=$(($(kb Rss) - $(kb Anonymous))) peak_anon=$(kb Anonymous)
  fi
  sleep 1
done
ticks1=$(cpu_ticks)
thread_ticks >"$work/threads1"
wall=$(echo "$(date +%s.%N) - $start" | bc)
targets=$(tracked)

# /metrics: ten scrapes one after the other, the median time and the size.
for _ in $(seq 10); do
  curl -s -o "$work/metrics.txt" -w '%{time_total}\n' "$url/metrics"
done | sort -n | sed -n 5p >"$work/render"
cur_rss=$(kb Rss) cur_anon=$(kb Anonymous)
if [ "$cur_rss" -gt "$peak" ]; then
  peak=$cur_rss peak_file=$((cur_rss - cur_anon)) peak_anon=$cur_anon
fi
# What the file-backed pages are: resident MiB per mapped file, the largest five.
awk '/^[0-9a-f]+-[0-9a-f]+ / { file = $6 } /^Rss:/ && file ~ /^\// { rss[file] += $2 }
     END { for (f in rss) printf "%10.1f MiB  %s\n", rss[f] / 1024, f }' \
  "/proc/$agent/smaps" | sort -rn | head -5 >"$work/files"
printf 'targets tracked:   %s of %d processes\n' "$targets" "$n"
printf 'agent peak RSS:    %.1f MiB (file-backed %.1f MiB, anonymous %.1f MiB)\n' \
  "$(echo "$peak / 1024" | bc -l)" "$(echo "$peak_file / 1024" | bc -l)" \
  "$(echo "$peak_anon / 1024" | bc -l)"
printf 'agent RSS at end:  %.1f MiB (file-backed %.1f MiB, anonymous %.1f MiB)\n' \
  "$(echo "$cur_rss / 1024" | bc -l)" "$(echo "($cur_rss - $cur_anon) / 1024" | bc -l)" \
  "$(echo "$cur_anon / 1024" | bc -l)"
printf 'agent fds:         %d at most\n' "$max_fds"
printf 'agent CPU:         %.2f %% of a core over %.0f s\n' \
  "$(echo "($ticks1 - $ticks0) * 100 / $ticks / $duration" | bc -l)" "$wall"
printf '/metrics:          %.1f ms (median of 10), %d bytes\n' \
  "$(echo "$(cat "$work/render") * 1000" | bc -l)" "$(stat -c %s "$work/metrics.txt")"
# Where the CPU went: each thread name's ticks over the run (threads started since count whole).
echo "agent CPU by thread (% of a core over the run):"
awk -v hz="$ticks" -v d="$duration" 'NR == FNR { before[$1] = $3; next }
     { used[$2] += $3 - before[$1] }
     END { for (n in used) printf "%8.2f %%  %s\n", used[n] * 100 / hz / d, n }' \
  "$work/threads0" "$work/threads1" | sort -rn
echo "file-backed pages by file (at the end):"
cat "$work/files"
grep -E '^goscry_(targets |symbolizer_cache|agent_)' "$work/metrics.txt" || true
