#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan) in a build directory
# of their own and runs each for a while.
#   scripts/fuzz.sh              every target for 60 s
#   scripts/fuzz.sh --smoke      every target for 10 s (CI)
#   scripts/fuzz.sh -t 300 elf   one target for 300 s
# Inputs that grow coverage are kept in $build/corpus/<target> between runs; a crash
# leaves its input in $build/artifacts/ and makes the script fail.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GOSCRY_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=60
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) seconds=10 ;;
    -t) seconds=${2:?seconds}; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) only+=("$1") ;;
  esac
  shift
done

# libFuzzer ships with clang; Debian 12's clang 14 cannot compile our C++23 (see the
# GOSCRY_FUZZ block of CMakeLists.txt), clang 16 can (scripts/setup.sh installs it).
CC=${CC:-clang-16}
CXX=${CXX:-clang++-16}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found: run scripts/setup.sh" >&2; exit 1; }
PATH="$(dirname "$("$root/scripts/go-env.sh" --print-go)"):$PATH"
export PATH

CC=$CC CXX=$CXX cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGOSCRY_FUZZ=ON -DGOSCRY_SANITIZE=ON -DGOSCRY_GO_VERSIONS=local >/dev/null
cmake --build "$build" --target fuzz

mkdir -p "$build/corpus" "$build/artifacts"
failed=()
ran=0
while read -r name binary seeds; do
  [ -n "$name" ] || continue
  if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
  mkdir -p "$build/corpus/$name"
  echo "fuzz: $name for ${seconds}s"
  # The first directory receives new inputs; the seeds are only read.
  if ! "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$name-" "$build/corpus/$name" "$seeds" \
      > "$build/$name.log" 2>&1; then
    failed+=("$name")
    tail -n 40 "$build/$name.log" >&2
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$build/$name.log" | tr '\n' ' ' || true
  echo
  ran=$((ran + 1))
done < "$build/tests/fuzz/targets.txt"

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of $ran targets failed: ${failed[*]} (inputs in $build/artifacts)" >&2
  exit 1
fi
echo "fuzz: $ran targets ran ${seconds}s each without a finding"
