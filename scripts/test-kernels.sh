#!/usr/bin/env bash
# Runs goscry's BPF tests inside Debian's own kernels under QEMU: the kernel matrix.
#
#   scripts/test-kernels.sh                     the covering subset on 5.10, 6.1, 6.12, 7.x
#   scripts/test-kernels.sh --full              the whole CTest label `bpf` on each kernel
#   scripts/test-kernels.sh --kernels "6.12 7"  only these series (5.10 6.1 6.12 7)
#   scripts/test-kernels.sh -R REGEX            only the CTest tests matching REGEX
#   scripts/test-kernels.sh --refresh           resolve the newest kernel of each series again
#   scripts/test-kernels.sh --fetch-only        only fetch and unpack the kernels into the cache
#   scripts/test-kernels.sh --programs          no tests: each kernel's verifier figures of the
#                                               BPF objects (scripts/bpf-program-figures.sh)
#
# Tests run from the existing build dir (GOSCRY_BUILD_DIR, default build/; scripts/test.sh
# builds it). Each kernel is Debian's amd64 package, fetched once with `apt-get download`
# through a private apt configuration whose archive is the one this machine's apt sources
# name, and kept unpacked (vmlinuz and the few modules virtme-ng needs) in
# GOSCRY_KERNEL_CACHE (default ~/.cache/goscry/kernels): a second run downloads nothing.
# Guests boot with virtme-ng (scripts/setup.sh installs it) on the host's root filesystem,
# read-only over 9p, so the built tests, fixtures and Go toolchains run unchanged; the build
# dir is an overlay (the guest's writes stay in the guest). QEMU emulates the CPU (TCG): this machine's KVM cannot run stock kernels.
#
# Boots two guests at a time (GOSCRY_KERNEL_LANES; each emulator uses one host thread).
# Prints one line per kernel, `kernel K: N passed, N failed, N skipped (boot Ns, tests Ns)`;
# a test skipped inside a guest counts as a failure. Exit status 1 when any kernel fails.
# Guest console and ctest output: $GOSCRY_BUILD_DIR/kernels/<kernel>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${GOSCRY_BUILD_DIR:-$root/build}")
cache=$(realpath -m "${GOSCRY_KERNEL_CACHE:-$HOME/.cache/goscry/kernels}")
venv=${GOSCRY_VENV:-$HOME/.cache/goscry/venv}

# The covering subset CI runs: every BPF program (runtime probes, the CPU profiler), every
# probe kind (uprobes on the runtime, the cpu-clock perf event), the verbs top, gc, leaks,
# record and agent. See docs/kernels.md for what each test adds and the timings.
SUBSET='^(RuntimeProbes\.|TopVerb\.OnceCounts|GcVerb\.|Leaks\.ReportsOneLeak|RecordOracles\.(SamplesCarryTheProgramsPprofLabels|FlatProfileMatches)|AgentBpf\.GoroutineRoutesAndLeaks)'

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }

full=0 refresh=0 fetch_only=0 programs=0 regex="" series_wanted="5.10 6.1 6.12 7"
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --refresh) refresh=1 ;;
    --fetch-only) fetch_only=1 ;;
    --programs) programs=1 ;;
    --kernels) series_wanted=$2; shift ;;
    -R) regex=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "test-kernels: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "test-kernels: $*" >&2; }
die() { log "$*"; exit 2; }

# Debian's kernels, fetched through a private apt configuration (shared with
# scripts/test-arm64.sh).
kernel_arch=amd64
# shellcheck source=lib/debian-kernels.sh
. "$root/scripts/lib/debian-kernels.sh"

# --- Guests --------------------------------------------------------------------------------

# The guest's script: run ctest in the build dir, with the host's PATH, and leave its status
# in files the host reads (vng's own exit status is 255 whenever the guest has no udev). With
# a toolchain named, the fixtures of the others leave the guest's copy of the manifest.
write_guest_script() {
  local out=$1 sel=$2 go=$3 run
  # $sel holds quotes of its own (-R '...'): chosen here, not compared in the guest's shell.
  if [ "$sel" = programs ]; then
    run="bash '$root/scripts/bpf-program-figures.sh' '$build' > '$out/programs.log' 2>&1"
  else
    run="ctest --timeout 900 --output-on-failure $sel > '$out/ctest.log' 2>&1"
  fi
  cat > "$out/guest.sh" <<EOF
#!/bin/sh
export PATH='$PATH' HOME='$HOME' CI='${CI:-}'
echo "\$(uname -r)" > '$out/started'
cd '$build' || exit 1
if [ -n '$go' ]; then
  grep '^$go ' fixtures/manifest.txt > /tmp/manifest.txt && cat /tmp/manifest.txt > fixtures/manifest.txt
fi
$run
status=\$?
echo "\$status" > '$out/done'
echo "goscry-guest-exit \$status"
EOF
}

# Boots the kernel once and runs the guest script; the console goes to $out/console.log.
boot_once() {
  local kver=$1 out=$2 timeout
  timeout=$(boot_timeout)
  rm -f "$out/started" "$out/done" "$out/ctest.log"
  # The guest's /root and build dir are overlays: Go may write its caches, ctest its files,
  # and the host's build dir stays as it is; results leave through the writable $out.
  # no_timer_check: an emulated CPU on a busy host is too slow for the boot's IO-APIC timer
  # check, which then panics 5.10 ("IO-APIC + timer doesn't work!").
  # tsc=reliable: 5.10 and 6.1 find the emulated CPUs' TSCs "unsynchronized" and fall back
  # to the HPET, whose every read is an emulated MMIO access outside the vDSO; Go reads the
  # clock at every scheduling decision: time.Now took 7-8 us on the HPET, 1 us on the TSC.
  # (5.10's subset stayed ~2x slower than 6.12's with it: docs/kernels.md.)
  # thread=single: one host thread runs both vCPUs in turn. With a thread per vCPU (QEMU's
  # default), a vCPU can run code translated before another vCPU patched it, which breaks
  # the kernel's int3-based live patching (text_poke_bp) of static keys: the oopses seen
  # were int3 traps on a patched nop of finish_task_switch, whose perf static key goscry's
  # perf events turn on ("Oops: int3", 6.12, two vCPUs).
  # vng runs virtme-run, which it finds on PATH.
  # timeout runs QEMU in a process group of its own: the trap stops it with this script.
  PATH="$venv/bin:$PATH" timeout --kill-after=30 "$timeout" \
    "$venv/bin/vng" --run "$cache/$kver/boot/vmlinuz-$kver" --force-9p --disable-kvm \
      --cpus 2 --memory 4G --qemu-opts="-accel tcg,thread=single" \
      --overlay-rwdir /root --overlay-rwdir "$build" --rwdir "$out" \
      --verbose --append "no_timer_check tsc=reliable" \
      --exec "sh $out/guest.sh" > "$out/console.log" 2>&1 < /dev/null &
  guest_pid=$!
  wait "$guest_pid" || true
  guest_pid=""
}
guest_pid=""
trap '[ -z "$guest_pid" ] || kill "$guest_pid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

# Counts ctest's per-test result lines: Passed; ***Failed/Timeout/Exception…; ***Skipped/Not Run.
count_results() {
  local ctest_log=$1
  [ -f "$ctest_log" ] || { echo "0 0 0"; return 0; }
  awk '/ Test +#[0-9]+: / {
         if ($0 ~ / Passed /) p++
         else if ($0 ~ /(\*\*\*Skipped|\*\*\*Not Run|Skipped +[0-9.]+ sec)/) s++
         else f++ }
       END { printf "%d %d %d\n", p, f, s }' "$ctest_log"
}

mtime() { stat -c %Y "$1"; }

# Seconds the next guest may run: its own limit, cut to what is left of the matrix's budget.
boot_timeout() {
  local left=$(( deadline - $(date +%s) ))
  echo $(( left < kernel_timeout ? left : kernel_timeout ))
}

# Boots one kernel (again, up to twice, while its console shows an oops or panic and the
# budget allows), prints its line and returns non-zero when a test failed or was skipped,
# or the guest gave no result.
run_kernel() {
  local kver=$1 sel=$2 go=$3 out=$build/kernels/$1 t0 attempt passed failed skipped note=""
  mkdir -p "$out"
  write_guest_script "$out" "$sel" "$go"
  if [ "$(boot_timeout)" -lt 60 ]; then
    echo "kernel $kver: not booted, the matrix ran out of its ${budget}s (GOSCRY_KERNEL_BUDGET)"
    return 1
  fi
  for attempt in 1 2 3; do
    t0=$(date +%s)
    boot_once "$kver" "$out"
    if grep -qE 'Oops|Kernel panic' "$out/console.log" && [ "$attempt" -lt 3 ] &&
       [ "$(boot_timeout)" -ge 60 ]; then
      cp "$out/console.log" "$out/console.oops.$attempt.log"
      [ ! -f "$out/ctest.log" ] || cp "$out/ctest.log" "$out/ctest.oops.$attempt.log"
      log "kernel $kver: the guest kernel oopsed (QEMU TCG; $out/console.oops.$attempt.log), booting it again"
      note=", retried after $attempt guest oops(es)"
      continue
    fi
    break
  done
  if [ ! -f "$out/started" ]; then
    echo "kernel $kver: guest did not start the tests (console: $out/console.log)"
    tail -n 20 "$out/console.log" >&2
    return 1
  fi
  local boot=$(( $(mtime "$out/started") - t0 )) tests
  if [ ! -f "$out/done" ]; then
    tests=$(( $(date +%s) - $(mtime "$out/started") ))
    read -r passed failed skipped < <(count_results "$out/ctest.log")
    local why="the guest died before ctest ended"
    [ $(( $(date +%s) - t0 )) -lt "$kernel_timeout" ] || why="the guest ran out of its ${kernel_timeout}s (GOSCRY_KERNEL_TIMEOUT)"
    [ "$(boot_timeout)" -gt 0 ] || why="the matrix ran out of its ${budget}s (GOSCRY_KERNEL_BUDGET)"
    echo "kernel $kver: $passed passed, $failed failed, $skipped skipped (boot ${boot}s, tests ${tests}s$note); $why (console: $out/console.log)"
    return 1
  fi
  tests=$(( $(mtime "$out/done") - $(mtime "$out/started") ))
  if [ "$sel" = programs ]; then
    echo "kernel $kver: boot ${boot}s$note"
    tail -n +2 "$out/programs.log" | sed 's/^/  /'  # its first line names the kernel again
    [ "$(cat "$out/done")" = 0 ]
    return
  fi
  read -r passed failed skipped < <(count_results "$out/ctest.log")
  echo "kernel $kver: $passed passed, $failed failed, $skipped skipped (boot ${boot}s, tests ${tests}s$note)"
  if [ "$failed" -ne 0 ] || [ "$skipped" -ne 0 ] || [ "$passed" -eq 0 ] || [ "$(cat "$out/done")" != 0 ]; then
    grep -E ' Test +#[0-9]+: ' "$out/ctest.log" | grep -v ' Passed ' | sed "s/^/  $kver: /" >&2 || true
    log "kernel $kver: ctest output in $out/ctest.log"
    return 1
  fi
}

mkdir -p "$cache"
kvers=()
for s in $series_wanted; do kernel_of_series "$s"; kvers+=("$kver"); done
if [ "$fetch_only" = 1 ]; then printf '%s\n' "${kvers[@]}"; exit 0; fi

[ -x "$venv/bin/vng" ] || die "$venv/bin/vng missing; run scripts/setup.sh"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing; run scripts/setup.sh"
[ -f "$build/CTestTestfile.cmake" ] || die "$build is not a built goscry build dir (run scripts/test.sh)"

# The subset runs the fixtures of the newest toolchain only (the host's suite runs them all:
# the kernel decides what the BPF programs can do, the toolchain where they attach);
# --full and -R run every toolchain's, GOSCRY_KERNEL_GO=goX.Y.Z picks one.
newest_go=$(awk '{ print $1 }' "$build/fixtures/manifest.txt" | sort -uV | tail -n1)
if [ "$programs" = 1 ]; then sel=programs go=""
elif [ -n "$regex" ]; then sel="-R '$regex'" go=""
elif [ "$full" = 1 ]; then sel="-L bpf" go=""
else sel="-L bpf -R '$SUBSET'" go=$newest_go
fi
go=${GOSCRY_KERNEL_GO:-$go}
[ "$go" = all ] && go=""
kernel_timeout=${GOSCRY_KERNEL_TIMEOUT:-$([ "$full" = 1 ] && echo 7200 || echo 900)}
# The whole matrix's time, retries included: 40 min for the subset keeps CI under its 90
# whatever the guests do (about 11 min on an idle machine, docs/kernels.md).
budget=${GOSCRY_KERNEL_BUDGET:-$([ "$full" = 1 ] && echo 28800 || echo 2400)}
deadline=$(( $(date +%s) + budget ))

# Two guests at a time: each emulator is one host thread (thread=single), so one guest
# leaves a core of this two-core machine idle. Lane L boots kernels L, L+lanes, ... in
# turn; the kernels' lines are printed in their order when every lane has ended.
lanes=${GOSCRY_KERNEL_LANES:-2}
run_lane() {
  local lane=$1 i status=0
  trap '[ -z "$guest_pid" ] || kill "$guest_pid" 2>/dev/null || true' EXIT
  trap 'exit 143' TERM
  for (( i = lane; i < ${#kvers[@]}; i += lanes )); do
    log "kernel ${kvers[$i]}: booting (lane $lane)"
    run_kernel "${kvers[$i]}" "$sel" "$go" > "$build/kernels/result-$i.txt" 2>&1 || status=1
  done
  return "$status"
}
mkdir -p "$build/kernels"
rm -f "$build"/kernels/result-*.txt
lane_pids=()
for (( lane = 0; lane < lanes && lane < ${#kvers[@]}; lane++ )); do
  run_lane "$lane" & lane_pids+=($!)
done
# `|| true`: under set -e a failing command in an EXIT trap becomes the script's status,
# and the lanes have usually ended by then.
trap 'kill "${lane_pids[@]}" 2>/dev/null || true' EXIT
status=0
for pid in "${lane_pids[@]}"; do wait "$pid" || status=1; done
for (( i = 0; i < ${#kvers[@]}; i++ )); do cat "$build/kernels/result-$i.txt"; done
exit "$status"
