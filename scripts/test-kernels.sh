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

# --- Debian archive, derived from this machine's apt sources --------------------------------

# Prints "URI SUITE" for every enabled deb source, one-line (.list) and deb822 (.sources).
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    sed -E 's/#.*//; s/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2, $3 }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'function flush() { if (deb && enabled) for (i in su) for (j in ur) print ur[j], su[i];
                            deb = 0; enabled = 1; delete su; delete ur }
         BEGIN { enabled = 1 }
         /^[[:space:]]*#/ { next }
         /^[[:space:]]*$/ { flush(); next }
         tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
         tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
         tolower($1) == "uris:" { for (i = 2; i <= NF; i++) ur[i] = $i }
         tolower($1) == "suites:" { for (i = 2; i <= NF; i++) su[i] = $i }
         END { flush() }' "$f"
  done
}

# The archive serving Debian's releases, and (if any) the one serving their security updates.
debian_archive() {
  apt_sources | awk '$2 ~ /^(bullseye|bookworm|trixie|forky|duke|sid|oldstable|stable|testing|unstable)$/ \
                       { print $1; exit }'
}
debian_security_archive() {
  apt_sources | awk '$2 ~ /^(bullseye|bookworm|trixie|forky|duke|stable|oldstable)-security$/ \
                       { print $1; exit }'
}

aptdir=$cache/apt
APT=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State=$aptdir/state" -o "Dir::State::status=$aptdir/state/status"
     -o "Dir::Cache=$aptdir/cache" -o Debug::NoLocking=1 -o APT::Architecture=amd64
     -o Acquire::Languages=none -o APT::Sandbox::User=root
     -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
     -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
     -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false)

# Writes the private sources list (the suites each series comes from) and reads its indexes,
# once per run and only when a kernel has to be resolved.
apt_ready=0
private_apt_update() {
  [ "$apt_ready" = 1 ] && return 0
  local archive security
  archive=$(debian_archive)
  [ -n "$archive" ] || die "no Debian archive in this machine's apt sources (/etc/apt)"
  security=$(debian_security_archive)
  mkdir -p "$aptdir/state/lists/partial" "$aptdir/cache/archives/partial"
  : > "$aptdir/state/status"
  {
    local s
    for s in bullseye bookworm bookworm-backports trixie sid; do
      echo "deb [arch=amd64] $archive $s main"
    done
    if [ -n "$security" ]; then
      for s in bullseye-security bookworm-security trixie-security; do
        echo "deb [arch=amd64] $security $s main"
      done
    fi
  } > "$aptdir/sources.list"
  log "reading the package indexes of $archive${security:+ and $security}"
  apt-get "${APT[@]}" -qq update || die "apt-get update through $aptdir/sources.list failed"
  apt_ready=1
}

# --- Kernel series -> newest package -> unpacked kernel in the cache -------------------------

# The package-name pattern of each series' amd64 kernel; 7.x is split (binary, modules, base).
series_pattern() {
  case "$1" in
    5.10) echo '^linux-image-5\.10\.0-[0-9]+-amd64$' ;;
    6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
    6.12) echo '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64$' ;;
    7|7.x) echo '^linux-binary-7\.[0-9]+\.[0-9]+\+deb[0-9]+-amd64$' ;;
    *) die "unknown kernel series '$1' (known: 5.10 6.1 6.12 7)" ;;
  esac
}

# Prints the kernel release (uname -r) of the series' newest package in the archive.
resolve_newest() {
  local pattern pkg
  pattern=$(series_pattern "$1")
  pkg=$(apt-cache "${APT[@]}" pkgnames linux- | grep -E "$pattern" | sort -V | tail -n1)
  [ -n "$pkg" ] || die "no package matching $pattern in the archive for kernel $1"
  echo "$pkg" | sed -E 's/^linux-(image|binary)-//'
}

packages_of() {
  case "$1" in
    7.*) echo "linux-binary-$1 linux-modules-$1 linux-base-$1" ;;
    *) echo "linux-image-$1" ;;
  esac
}

# What a guest needs from the image: the kernel, the module indexes depmod reads, and the
# modules of virtme-ng's 9p root, its overlays and virtio devices (built in on newer kernels).
UNPACK=('*/vmlinuz*' '*/modules.order' '*/modules.builtin' '*/modules.builtin.modinfo'
        '*/kernel/fs/9p/*' '*/kernel/net/9p/*' '*/kernel/fs/netfs/*' '*/kernel/fs/fscache/*'
        '*/kernel/fs/overlayfs/*' '*/kernel/drivers/virtio/*' '*/kernel/drivers/char/virtio_console*'
        '*/kernel/drivers/block/virtio_blk*')

# virtme-ng's initramfs loads modules with a plain insmod, which cannot read Debian's
# xz- or zstd-compressed ones ("Invalid ELF header magic").
decompress_modules() {
  find "$1" -name '*.ko.xz' -exec xz -d {} +
  find "$1" -name '*.ko.zst' -exec zstd -q -d --rm {} +
}

# Downloads the kernel's packages and keeps only what UNPACK names, laid out as virtme-ng
# expects (DIR/boot/vmlinuz-K, DIR/lib/modules/K with modules.dep).
fetch_kernel() {
  local kver=$1 dest=$cache/$1 tmp deb
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  log "downloading $(packages_of "$kver")"
  # shellcheck disable=SC2046
  (cd "$tmp" && apt-get "${APT[@]}" -qq download $(packages_of "$kver")) ||
    die "apt-get download $(packages_of "$kver") failed"
  mkdir "$tmp/root"
  for deb in "$tmp"/*.deb; do
    # tar exits 2 when a pattern matches nothing in this package; the checks below decide.
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/root" --wildcards "${UNPACK[@]}" 2>/dev/null || true
  done
  if [ -d "$tmp/root/usr/lib/modules" ]; then
    mkdir -p "$tmp/root/lib/modules"
    mv "$tmp/root/usr/lib/modules/$kver" "$tmp/root/lib/modules/"
  fi
  mkdir -p "$tmp/root/boot"
  [ -f "$tmp/root/lib/modules/$kver/vmlinuz" ] &&
    mv "$tmp/root/lib/modules/$kver/vmlinuz" "$tmp/root/boot/vmlinuz-$kver"
  [ -f "$tmp/root/boot/vmlinuz-$kver" ] || die "no vmlinuz in $(packages_of "$kver")"
  [ -f "$tmp/root/lib/modules/$kver/modules.order" ] || die "no modules.order in $(packages_of "$kver")"
  decompress_modules "$tmp/root/lib/modules/$kver"
  depmod -b "$tmp/root" "$kver" || die "depmod of $kver failed"
  rm -rf "$dest"
  mv "$tmp/root" "$dest"
  rm -rf "$tmp"
  log "kernel $kver: $(du -sh "$dest" | cut -f1) unpacked in $dest"
}

# Sets $kver to the cached kernel release of a series, fetching the newest first when there is
# none (or with --refresh). Not in a subshell: the apt indexes are read once per run.
kernel_of_series() {
  local s=$1 link=$cache/series-$1
  kver=""
  [ "$refresh" = 0 ] && [ -f "$link" ] && kver=$(cat "$link")
  if [ -n "$kver" ] && [ -f "$cache/$kver/boot/vmlinuz-$kver" ]; then return 0; fi
  private_apt_update
  kver=$(resolve_newest "$s")
  [ -f "$cache/$kver/boot/vmlinuz-$kver" ] || fetch_kernel "$kver"
  echo "$kver" > "$link"
}

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

status=0
for k in "${kvers[@]}"; do run_kernel "$k" "$sel" "$go" || status=1; done
exit "$status"
