#!/usr/bin/env bash
# Builds every Go fixture under tests/fixtures/<name>/ with each requested toolchain, in
# four variants, into OUTDIR/<go-version>/<name>-<variant>:
#   plain     CGO_ENABLED=0, the default internal linker
#   stripped  -ldflags="-s -w" (no .symtab, no DWARF: only .gopclntab is left)
#   pie       -buildmode=pie
#   cgo       CGO_ENABLED=1, external linking (gcc): moved sections, C code when the
#             fixture has a `//go:build cgo` file
# and writes OUTDIR/manifest.txt, one "<go-version> <name> <variant> <path>" per line.
# A few of them (ARM64_FIXTURES) are also built for GOARCH=arm64, plain, stripped and PIE
# (CGO_ENABLED=0: cgo would need the cross gcc), into OUTDIR/<go-version>/arm64/ and listed
# in OUTDIR/manifest-arm64.txt alike: the symbolizer reads them as files on this host
# (docs/go-runtime.md "arm64"); the tests that run fixtures never see them.
#
# usage: build-fixtures.sh OUTDIR "1.19 local 1.27.3"
# Toolchains: 1.19 is Debian's golang-1.19; local is the go on PATH; X.Y.Z comes through
# GOTOOLCHAIN (fetched once from the module proxy). Go's build cache makes reruns cheap.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../tests/fixtures" && pwd)
out=${1:?outdir}
versions=${2:-${GOSCRY_GO_VERSIONS:-1.19 local 1.27.3}}
mkdir -p "$out"
export GOFLAGS=-buildvcs=false

manifest=$(mktemp)
manifest_arm64=$(mktemp)
jobs_file=$(mktemp)
trap 'rm -f "$manifest" "$manifest_arm64" "$jobs_file"' EXIT

# Enough for the symbolizer's arm64 tests: every runtime probe point (hello), inlined frames
# (inline), a program with many goroutines and creation sites (leaks).
ARM64_FIXTURES="hello inline leaks"

build_one() {  # go toolchain tag name variant [goarch]
  local go=$1 tc=$2 tag=$3 name=$4 variant=$5 goarch=${6:-}
  local dest="$out/$tag/$name-$variant"
  [ -n "$goarch" ] && dest="$out/$tag/$goarch/$name-$variant"
  local args=() cgo=0
  case $variant in
    plain) ;;
    stripped) args=(-ldflags="-s -w") ;;
    pie) args=(-buildmode=pie) ;;
    cgo) cgo=1; args=(-ldflags=-linkmode=external) ;;
  esac
  (cd "$src" && export GOTOOLCHAIN=$tc CGO_ENABLED=$cgo \
     && { [ -z "$goarch" ] || export GOARCH=$goarch; } \
     && "$go" build "${args[@]}" -o "$dest.tmp" "./$name" \
     && mv "$dest.tmp" "$dest") || { echo "build-fixtures: $tag $name $variant failed" >&2; return 1; }
}

for v in $versions; do
  go=$("$here/go-env.sh" --go-for "$v")
  case $v in
    1.19 | local) tc=local ;;
    *) tc=go$v ;;
  esac
  tag=$(GOTOOLCHAIN=$tc "$go" env GOVERSION)
  mkdir -p "$out/$tag"
  for dir in "$src"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/main.go" ] || continue
    # A fixture may need a newer Go than some toolchains (say, iter.Pull): it names the
    # oldest in a "// goscry:min-go 1.23" line.
    min=$(sed -n 's,^// goscry:min-go 1\.\([0-9]*\).*,\1,p' "$dir/main.go" | head -n1)
    minor=$(echo "$tag" | sed -E 's/^go1\.([0-9]+).*/\1/')
    if [ -n "$min" ] && [ "$minor" -lt "$min" ]; then continue; fi
    for variant in plain stripped pie cgo; do
      echo "$go $tc $tag $name $variant" >> "$jobs_file"
      echo "$tag $name $variant $out/$tag/$name-$variant" >> "$manifest"
    done
    case " $ARM64_FIXTURES " in *" $name "*) ;; *) continue ;; esac
    mkdir -p "$out/$tag/arm64"
    for variant in plain stripped pie; do
      echo "$go $tc $tag $name $variant arm64" >> "$jobs_file"
      echo "$tag $name $variant $out/$tag/arm64/$name-$variant" >> "$manifest_arm64"
    done
  done
done
export -f build_one
export out src
# Two builds at a time: two cores. xargs fails when any build fails.
xargs -P 2 -L 1 bash -c 'build_one "$@"' _ < "$jobs_file"
# Targets goscry must refuse (one sentence naming why), kept out of the manifest so that
# the tests iterating over every fixture never see them: hello built for GOARCH=386, and
# goplugin (below).
mkdir -p "$out/unsupported"
(cd "$src" && GOARCH=386 CGO_ENABLED=0 "$("$here/go-env.sh" --go-for local)" build \
   -o "$out/unsupported/hello-386.tmp" ./hello && mv "$out/unsupported/hello-386.tmp" \
   "$out/unsupported/hello-386") || { echo "build-fixtures: hello GOARCH=386 failed" >&2; exit 1; }
# A host that plugin.Open's a Go plugin (which goscry refuses until it reads plugins), per
# toolchain: a plugin needs cgo and the very toolchain (and package builds) of its host.
# OUTDIR/unsupported/<go-version>/goplugin-host and goplugin.so.
for v in $versions; do
  go=$("$here/go-env.sh" --go-for "$v")
  case $v in
    1.19 | local) tc=local ;;
    *) tc=go$v ;;
  esac
  dir="$out/unsupported/$(GOTOOLCHAIN=$tc "$go" env GOVERSION)"
  mkdir -p "$dir"
  (cd "$src" && export GOTOOLCHAIN=$tc CGO_ENABLED=1 \
     && "$go" build -o "$dir/goplugin-host.tmp" ./goplugin/host \
     && "$go" build -buildmode=plugin -o "$dir/goplugin.so.tmp" ./goplugin/plugin \
     && mv "$dir/goplugin-host.tmp" "$dir/goplugin-host" && mv "$dir/goplugin.so.tmp" "$dir/goplugin.so") \
    || { echo "build-fixtures: goplugin with $v failed" >&2; exit 1; }
done
sort "$manifest" > "$out/manifest.txt"
sort "$manifest_arm64" > "$out/manifest-arm64.txt"
echo "build-fixtures: $(wc -l < "$out/manifest.txt") fixture binaries in $out," \
  "$(wc -l < "$out/manifest-arm64.txt") for arm64"
