#!/usr/bin/env bash
# Cross-builds goscry for arm64 on this amd64 Debian host, from the same tree:
#
#   scripts/build-arm64.sh        -> build-arm64/agent/goscry (arm64 ELF, dynamic) and
#                                    build-arm64/bpf/{runtime,cpu}.bpf.o (-D__TARGET_ARCH_arm64),
#                                    and build-arm64/bundle/: goscry stripped, with the
#                                    shared libraries and loader it needs, ready to copy
#                                    into any arm64 root (scripts/test-arm64.sh's initramfs)
#
# GOSCRY_ARM64_BUILD_DIR moves build-arm64/. Installs what it needs through
# scripts/setup-arm64.sh --build. Tests are not built (they run on the host, or in
# scripts/test-arm64.sh against this binary).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${GOSCRY_ARM64_BUILD_DIR:-$root/build-arm64}")
log() { echo "build-arm64: $*" >&2; }

"$root/scripts/setup-arm64.sh" --build >&2

# yaml-cpp's -dev package is not Multi-Arch: same in Debian 12 (installing the arm64 one
# would remove the host's): its arm64 .deb is unpacked here instead, and its CMake package
# points at the installed arm64 libyaml-cpp0.7.
multiarch=/usr/lib/aarch64-linux-gnu
yaml=$build/deps/yaml-cpp
if [ ! -f "$yaml/.done" ]; then
  rm -rf "$yaml" && mkdir -p "$yaml"
  (cd "$yaml" && apt-get -o APT::Sandbox::User=root download -qq libyaml-cpp-dev:arm64) || { log "apt-get download libyaml-cpp-dev:arm64 failed"; exit 2; }
  dpkg-deb -x "$yaml"/libyaml-cpp-dev_*_arm64.deb "$yaml/root"
  for so in "$multiarch"/libyaml-cpp.so.*; do ln -sf "$so" "$yaml/root$multiarch/"; done
  touch "$yaml/.done"
fi

log "configuring $build"
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
  -DGOSCRY_TESTS=OFF \
  -Dyaml-cpp_DIR="$yaml/root$multiarch/cmake/yaml-cpp" >/dev/null
log "building goscry (arm64)"
cmake --build "$build" --target goscry

# The bundle: what an arm64 root without Debian's libraries needs to run goscry.
# shellcheck source=lib/bundle.sh
. "$root/scripts/lib/bundle.sh"
bundle=$build/bundle
nlibs=$(bundle_goscry "$build" aarch64-linux-gnu "$bundle")

# readelf, not file(1): the Dockerfile's build stage has binutils but no file.
log "$(readelf -h "$build/agent/goscry" | sed -nE 's/^ *Machine: *//p'): $(du -h "$build/agent/goscry" | cut -f1) (stripped in the bundle: $(du -h "$bundle/bin/goscry" | cut -f1)), $nlibs libraries, bundle $(du -sh "$bundle" | cut -f1)"
echo "$bundle"
