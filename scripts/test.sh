#!/usr/bin/env bash
# Set-up, build and every test: what CI runs and what a new contributor runs.
#   scripts/test.sh                 all tiers (unit, bpf) for the default toolchains
#   scripts/test.sh -L unit         only one CTest label (any ctest arguments pass through)
#   GOSCRY_FUZZ_SMOKE=1 scripts/test.sh   also a 10 s run of each fuzz target (always under CI=true)
#   GOSCRY_KERNEL_MATRIX=1 scripts/test.sh  also the BPF tests inside Debian's 5.10, 6.1, 6.12
#                                   and 7.x kernels under QEMU (scripts/test-kernels.sh; always
#                                   under CI=true)
# GOSCRY_GO_VERSIONS picks the fixture toolchains (default: oldest, one between, newest).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GOSCRY_BUILD_DIR:-$root/build}
versions=${GOSCRY_GO_VERSIONS:-1.19 local 1.27.3}

"$root/scripts/setup.sh"
PATH="$(dirname "$("$root/scripts/go-env.sh" --print-go)"):$PATH"
export PATH
cmake -S "$root" -B "$build" -G Ninja -DGOSCRY_GO_VERSIONS="$versions" >/dev/null
cmake --build "$build"
# CI also runs every fuzz target for 10 s (about 1.5 min with the build, see
# scripts/fuzz.sh); it runs first so that ctest's summary stays the closing line.
fuzz_status=0
if [ "${CI:-}" = true ] || [ "${GOSCRY_FUZZ_SMOKE:-}" = 1 ]; then
  "$root/scripts/fuzz.sh" --smoke || fuzz_status=$?
fi
# In CI and on request, the covering subset of the bpf label inside each kernel of the
# matrix (QEMU without KVM, two guests at a time: about 14 min for the four on an idle
# machine, at most 40 by its budget; docs/kernels.md); before the host's ctest for the same
# reason as the fuzz run.
kernels_status=0
if [ "${CI:-}" = true ] || [ "${GOSCRY_KERNEL_MATRIX:-}" = 1 ]; then
  GOSCRY_BUILD_DIR="$build" "$root/scripts/test-kernels.sh" || kernels_status=$?
fi
cd "$build"
ctest --output-on-failure --timeout 600 -j2 "$@"
if [ "$fuzz_status" -ne 0 ]; then
  echo "test.sh: the fuzz smoke run failed (scripts/fuzz.sh --smoke)" >&2
  exit "$fuzz_status"
fi
if [ "$kernels_status" -ne 0 ]; then
  echo "test.sh: the kernel matrix failed (scripts/test-kernels.sh; logs in $build/kernels/)" >&2
  exit "$kernels_status"
fi
