#!/usr/bin/env bash
# The full "never harm the target" run of issue 3: the torture fixture under `goscry top`
# for 60 s (the default test run uses 20 s), then a SIGKILLed goscry. Needs root.
#
# usage: scripts/torture.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
seconds=${2:-60}
ninja -C "$build" -j2 goscry target_safety_test fixtures >/dev/null
GOSCRY_TORTURE_SECONDS=$seconds "$build/tests/target_safety_test" --gtest_filter='TargetSafety.*'
