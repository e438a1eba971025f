#!/usr/bin/env bash
# The Dockerfile's build stage, on the build machine's architecture (BUILDARCH): compiles
# goscry for TARGETARCH and lays out the image's whole root in ROOTFS: /usr/bin/goscry
# stripped, the shared libraries it loads under /lib/<triplet>, the loader at the path the
# binary names, an empty /tmp.
#
#   scripts/lib/image-rootfs.sh BUILDARCH TARGETARCH BUILD_DIR ROOTFS
#
# The build type is the project's default (RelWithDebInfo, -O2), the one the tests run, and
# the binary is stripped. amd64 builds natively; arm64 is cross-built on amd64 by
# scripts/build-arm64.sh (no emulator needed). Both go through bundle_goscry, which finds the
# libraries with readelf: unlike ldd, it reads a foreign binary too. The packages come from
# setup.sh --build (and setup-arm64.sh --build), which the Dockerfile runs before it copies
# the tree in.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# Empty architectures (a builder without BuildKit's platform arguments) mean this machine's.
buildarch=${1:-$(dpkg --print-architecture)}
targetarch=${2:-$buildarch}
build=$3 rootfs=$4
log() { echo "image-rootfs: $*" >&2; }
# shellcheck source=bundle.sh
. "$root/scripts/lib/bundle.sh"

case "$buildarch/$targetarch" in
  amd64/amd64)
    machine=X86-64
    cmake -S "$root" -B "$build" -G Ninja -DGOSCRY_TESTS=OFF >/dev/null
    cmake --build "$build" --target goscry -j"$(nproc)"
    bundle_goscry "$build" x86_64-linux-gnu "$build/bundle" >/dev/null ;;
  amd64/arm64)
    machine=AArch64
    GOSCRY_ARM64_BUILD_DIR=$build "$root/scripts/build-arm64.sh" >/dev/null ;;
  *)
    log "goscry's image builds on amd64, for amd64 or arm64 (not on $buildarch for $targetarch)"
    exit 1 ;;
esac

# The bundle minus what the image does not need (bin/ moves to /usr/bin; the BPF objects
# are compiled into the binary, bpf/ is for scripts/test-arm64.sh).
rm -rf "$rootfs" && mkdir -p "$rootfs/usr/bin" "$rootfs/tmp"
cp "$build/bundle/bin/goscry" "$rootfs/usr/bin/goscry"
cp -a "$build"/bundle/lib* "$rootfs/"

# The binary is the target's: its ELF header says so on any build machine. It is also run
# where this machine can execute the target's code: natively, or for arm64 under a qemu-user
# binfmt handler (qemu-user-static). The image's own loader, run outside the chroot, tells:
# in the chroot a foreign binary fails as "No such file" (execvp's retry through /bin/sh,
# which the image has not), like a missing file. Without a handler only the header is checked.
readelf -h "$rootfs/usr/bin/goscry" | grep -q "Machine:.*$machine" ||
  { log "/usr/bin/goscry is not $machine:"; readelf -h "$rootfs/usr/bin/goscry" >&2; exit 1; }
interp=$(readelf -l "$rootfs/usr/bin/goscry" | sed -nE 's/.*interpreter: (.*)\]/\1/p')
if "$rootfs$interp" --version >/dev/null 2>&1; then
  chroot "$rootfs" /usr/bin/goscry --version
elif [ "$targetarch" = "$buildarch" ]; then
  log "the image's loader $interp does not run on this $buildarch machine"
  exit 1
else
  log "/usr/bin/goscry is $machine, not run: this $buildarch machine has no binfmt handler for it"
fi
log "$targetarch root: $(du -sh "$rootfs" | cut -f1), $(find "$rootfs" -type f | wc -l) files, compiled and laid out in ${SECONDS} s"
