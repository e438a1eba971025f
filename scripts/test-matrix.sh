#!/usr/bin/env bash
# The toolchain matrix: every test on fixtures built with every supported Go toolchain
# (one release of each minor, 1.19 .. 1.27), in plain, stripped, PIE and
# cgo variants. The suites loop over all fixtures of the manifest, so this is scripts/test.sh
# with more toolchains, in a build directory of its own. Long: it builds 9 sets of fixtures.
#   scripts/test-matrix.sh            everything
#   scripts/test-matrix.sh -L unit    ctest arguments pass through
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOSCRY_GO_VERSIONS=${GOSCRY_GO_VERSIONS:-1.19 1.20.14 1.21.13 1.22.12 1.23.12 1.24.13 1.25.9 local 1.27.3}
export GOSCRY_BUILD_DIR=${GOSCRY_BUILD_DIR:-$root/build-matrix}
# Two cores: do not let ninja take more.
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
exec "$root/scripts/test.sh" "$@"
