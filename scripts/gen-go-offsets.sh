#!/usr/bin/env bash
# Regenerates symbolizer/go_offsets_table.cpp: the runtime.g/m/moduledata offsets and the
# wait-reason and goroutine-status names per Go minor version, for binaries without DWARF.
# Builds tests/fixtures/hello with each toolchain (one per minor version, the newest patch
# release we test), reads each binary's DWARF with goscry-offsets-gen and writes the table.
#
# usage: scripts/gen-go-offsets.sh [BUILD_DIR]     (default build/; configured if needed)
# Toolchains: 1.19 is Debian's golang-1.19, local the installed go, X.Y.Z via GOTOOLCHAIN.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
versions=${GOSCRY_OFFSETS_GO_VERSIONS:-1.19 1.20.14 1.21.13 1.22.12 1.23.12 1.24.13 1.25.9 local 1.27.3}
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

[ -f "$build/build.ninja" ] || cmake -S "$root" -B "$build" -G Ninja -DGOSCRY_GO_VERSIONS=local >/dev/null
ninja -C "$build" -j2 goscry-offsets-gen >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
for v in $versions; do
  go=$("$root/scripts/go-env.sh" --go-for "$v")
  case $v in
    1.19 | local) tc=local ;;
    *) tc=go$v ;;
  esac
  tag=$(GOTOOLCHAIN=$tc "$go" env GOVERSION)
  (cd "$root/tests/fixtures" && GOTOOLCHAIN=$tc "$go" build -o "$tmp/hello-$tag" ./hello)
  args+=("$tag=$tmp/hello-$tag")
  echo "gen-go-offsets: built with $tag" >&2
done
out=$root/symbolizer/go_offsets_table.cpp
"$build/tests/tools/goscry-offsets-gen" "${args[@]}" > "$tmp/table.cpp"
mv "$tmp/table.cpp" "$out"
echo "gen-go-offsets: wrote $out (${#args[@]} Go versions)" >&2
