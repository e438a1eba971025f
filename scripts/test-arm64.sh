#!/usr/bin/env bash
# Runs goscry's verbs inside Debian's arm64 kernels under qemu-system-aarch64 (TCG): the
# arm64 build (scripts/build-arm64.sh) against arm64 Go fixtures, in a busybox initramfs.
# A named script, not in CI (docs/kernels.md "arm64").
#
#   scripts/test-arm64.sh                     kernels 6.1 and the newest 7.x
#   scripts/test-arm64.sh --kernels "5.10 6.1 6.12 7"
#   scripts/test-arm64.sh --dump-n 10000      also time `goscry dump` of 10,000 goroutines
#   scripts/test-arm64.sh --record-cost 10    also measure what `goscry record` at 99 Hz costs
#                                             a CPU-bound target (2 runs of 10 s each way)
#   scripts/test-arm64.sh --smp 1 ...         guests with one vCPU (default 2)
#   scripts/test-arm64.sh --refresh           resolve the newest kernel of each series again
#   scripts/test-arm64.sh --checks "dump leaks"  only these (top gc dump prologue async
#                                             record foreign_g cgo_g leaks watch
#                                             dump_many record_cost)
#   scripts/test-arm64.sh --arch amd64 ...    the same guests on Debian's amd64 kernels under
#                                             qemu-system-x86_64 (TCG), goscry from build/
#                                             (GOSCRY_BUILD_DIR): the reference of the
#                                             emulation ratios (docs/kernels.md "arm64")
#
# In each guest, scripts/lib/guest-verbs.sh runs `top --once`, `gc`, `dump` (of parked
# goroutines and of goroutines preempted in a prologue or by a signal), `record` (and its
# goroutine attribution while Go assembly or C code holds a decoy in the g register),
# `leaks` and the agent's watch
# tier (`agent --all`), each checked against the fixture's own answer (runtime.NumGoroutine,
# runtime/metrics' GC count, runtime.Stack, cpuburn's 2:1 CPU split, the decoy's goid, the
# leak's marked lines, NumGoroutine again). Prints one line per kernel,
#
#   arm64 kernel K: N passed, N failed (boot Ns, tests Ns)
#
# and exits 1 when a check failed. The console of each guest: $GOSCRY_ARM64_BUILD_DIR
# (default build-arm64/)/kernels/<K>/console.log (--arch amd64: .../amd64/kernels/<K>/). Kernels come as scripts/test-kernels.sh's
# do (scripts/lib/debian-kernels.sh), cached in GOSCRY_ARM64_KERNEL_CACHE (default
# ~/.cache/goscry/kernels-arm64).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${GOSCRY_ARM64_BUILD_DIR:-$root/build-arm64}")

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }
refresh=0 series_wanted="6.1 7" dump_n=0 record_cost=0 smp=2 arch=arm64
checks="top gc dump prologue async record foreign_g cgo_g leaks watch dump_many record_cost"
while [ $# -gt 0 ]; do
  case "$1" in
    --kernels) series_wanted=$2; shift ;;
    --dump-n) dump_n=$2; shift ;;
    --record-cost) record_cost=$2; shift ;;
    --smp) smp=$2; shift ;;
    --checks) checks=$2; shift ;;
    --arch) arch=$2; shift ;;
    --refresh) refresh=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "test-arm64: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "test-arm64: $*" >&2; }
die() { log "$*"; exit 2; }

# Per guest architecture: kernels, goscry's bundle, the emulator and its console.
case "$arch" in
  arm64)
    cache=$(realpath -m "${GOSCRY_ARM64_KERNEL_CACHE:-$HOME/.cache/goscry/kernels-arm64}")
    bundle=$build/bundle work=$build
    # -cpu max,pauth-impdef=on: every feature Debian's kernels probe, with QEMU's cheap
    # pointer-authentication hash (the architected one makes TCG several times slower).
    qemu=(qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on)
    append="console=ttyAMA0" ;;
  amd64)
    cache=$(realpath -m "${GOSCRY_KERNEL_CACHE:-$HOME/.cache/goscry/kernels}")  # test-kernels.sh's
    amd64_build=$(realpath -m "${GOSCRY_BUILD_DIR:-$root/build}")
    bundle=$build/amd64/bundle work=$build/amd64
    # As scripts/test-kernels.sh boots them (its comments say why: one TCG thread for the
    # kernel's int3 text patching, no_timer_check, tsc=reliable).
    qemu=(qemu-system-x86_64 -cpu max -accel tcg,thread=single)
    append="console=ttyS0 no_timer_check tsc=reliable" ;;
  *) die "unknown --arch '$arch' (arm64, amd64)" ;;
esac
kernel_arch=$arch
# shellcheck source=lib/debian-kernels.sh
. "$root/scripts/lib/debian-kernels.sh"

"$root/scripts/setup-arm64.sh" >&2
if [ "$arch" = arm64 ]; then
  [ -x "$bundle/bin/goscry" ] || GOSCRY_ARM64_BUILD_DIR=$build "$root/scripts/build-arm64.sh" >/dev/null
else
  [ -x "$amd64_build/agent/goscry" ] || die "no $amd64_build/agent/goscry (build the amd64 tree first)"
  # shellcheck source=lib/bundle.sh
  . "$root/scripts/lib/bundle.sh"
  bundle_goscry "$amd64_build" x86_64-linux-gnu "$bundle" >/dev/null
fi

# --- What every guest's initramfs holds -----------------------------------------------------

# The fixtures the checks run, built by the newest Go for the guest (static: CGO_ENABLED=0).
FIXTURES=(churn quiescent cpuburn leaks preempted profiled)
fx=$work/fixtures-$arch
go=$("$root/scripts/go-env.sh" --print-go)
mkdir -p "$fx"
for f in "${FIXTURES[@]}"; do
  (cd "$root/tests/fixtures" && GOARCH=$arch CGO_ENABLED=0 "$go" build -o "$fx/$f" "./$f") ||
    die "go build of fixture $f for $arch failed"
done
# And profiled with cgo (its C burner), linked against the C library the bundle carries.
cc=gcc
[ "$arch" = amd64 ] || cc=aarch64-linux-gnu-gcc
(cd "$root/tests/fixtures" && GOARCH=$arch CGO_ENABLED=1 CC=$cc "$go" build -o "$fx/profiled-cgo" ./profiled) ||
  die "go build of fixture profiled (cgo) for $arch failed"

# busybox-static's binary for the guest, from its Debian package
# (/bin/busybox in older packages, /usr/bin/busybox in newer ones).
busybox=$(ls "$cache"/busybox/{usr/,}bin/busybox 2>/dev/null | head -n1 || true)
if [ -z "$busybox" ]; then
  rm -rf "$cache/busybox" && mkdir -p "$cache/busybox"
  apt_download "$cache/busybox" busybox-static
  dpkg-deb -x "$cache"/busybox/busybox-static_*.deb "$cache/busybox"
  busybox=$(ls "$cache"/busybox/{usr/,}bin/busybox 2>/dev/null | head -n1 || true)
  [ -n "$busybox" ] || die "no busybox in $(ls "$cache"/busybox/*.deb)"
fi

marker_line() { grep -n "$1" "$root/tests/fixtures/leaks/main.go" | head -n1 | cut -d: -f1; }

# The initramfs, one for every kernel: busybox, goscry's bundle, the fixtures, the checks
# and an /init that runs them and powers off. Uncompressed: the kernel reads it as it is.
initramfs=$work/initramfs.cpio
make_initramfs() {
  local r=$work/initramfs
  rm -rf "$r" && mkdir -p "$r"/{bin,sbin,proc,sys,dev,tmp,fx,etc}
  cp "$busybox" "$r/bin/busybox"
  cp -a "$bundle/." "$r/"
  cp "$fx"/* "$r/fx/"
  cp "$root/scripts/lib/guest-verbs.sh" "$r/guest-verbs.sh"
  cat > "$r/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin HOME=/tmp FX=/fx DUMP_N=$dump_n RECORD_COST=$record_cost CHECKS="$checks"
export LEAK_CREATION=$(marker_line 'creation:recv') LEAK_BLOCKS=$(marker_line 'blocks:recv')
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
echo "GOSCRY-STARTED \$(uname -r)"
sh /guest-verbs.sh 2>&1
echo GOSCRY-DONE
poweroff -f
EOF
  chmod +x "$r/init"
  (cd "$r" && find . | cpio -o -H newc --quiet) > "$initramfs"
}
make_initramfs
log "initramfs $(du -h "$initramfs" | cut -f1)"

# --- Guests ---------------------------------------------------------------------------------

guest_pid=""
trap '[ -z "$guest_pid" ] || kill "$guest_pid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

# Boots one kernel (the Image or bzImage in Debian's package is what -kernel loads) with the
# initramfs; the console is the serial port on stdio.
run_kernel() {
  local kver=$1 out=$work/kernels/$1 t0 t_started="" passed failed
  mkdir -p "$out"
  rm -f "$out/console.log"  # the last run's would say "started" before this guest did
  t0=$(date +%s)
  timeout --kill-after=30 "${GOSCRY_ARM64_TIMEOUT:-1800}" \
    "${qemu[@]}" -smp "$smp" -m 3G -nographic -no-reboot \
      -kernel "$cache/$kver/boot/vmlinuz-$kver" -initrd "$initramfs" \
      -append "$append panic=-1 rdinit=/init" > "$out/console.log" 2>&1 < /dev/null &
  guest_pid=$!
  while kill -0 "$guest_pid" 2>/dev/null; do
    [ -z "$t_started" ] && grep -qs '^GOSCRY-STARTED' "$out/console.log" && t_started=$(date +%s)
    sleep 0.5
  done
  wait "$guest_pid" || true
  guest_pid=""
  local t1; t1=$(date +%s)
  if [ -z "$t_started" ]; then
    grep -q '^GOSCRY-STARTED' "$out/console.log" || {
      echo "$arch kernel $kver: the guest did not start the checks (console: $out/console.log)"
      tail -n 20 "$out/console.log" >&2
      return 1
    }
    t_started=$t1
  fi
  tr -d '\r' < "$out/console.log" | grep '^GOSCRY-TEST ' > "$out/results.txt" || true
  passed=$(grep -c ' PASS ' "$out/results.txt" || true)
  failed=$(grep -c ' FAIL ' "$out/results.txt" || true)
  local note=""
  grep -q '^GOSCRY-DONE' "$out/console.log" || { note=", the guest died before the checks ended"; failed=$((failed + 1)); }
  echo "$arch kernel $kver: $passed passed, $failed failed (boot $((t_started - t0))s, tests $((t1 - t_started))s$note)"
  sed 's/^GOSCRY-TEST /  /' "$out/results.txt"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
}

mkdir -p "$cache"
kvers=()
for s in $series_wanted; do kernel_of_series "$s"; kvers+=("$kver"); done
status=0
for k in "${kvers[@]}"; do run_kernel "$k" || status=1; done
exit "$status"
