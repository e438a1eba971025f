#!/usr/bin/env bash
# Builds the real Go servers of the realworld suite (tests/realworld/) from their pinned
# module versions, stripped as their release builds are (-trimpath, -ldflags="-s -w"), each
# with the toolchain named below, into a cache outside the repository keyed by
# module@version+toolchain, so a second run (or a CI run with the cache restored) builds
# nothing. Writes MANIFEST, one "<name> <path>" per line for each server that is there.
#
# usage: build-realworld.sh MANIFEST
#   GOSCRY_REALWORLD_CACHE   the cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/goscry/realworld)
# Toolchains: local is the go of scripts/go-env.sh --print-go; X.Y.Z comes through
# GOTOOLCHAIN. Modules come through the go command's own proxy settings.
#
# A server that fails to build (no network, say) is left out of the manifest with its log
# named on stderr: the test skips it with that reason, and fails under CI=true.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
manifest=${1:?manifest}
cache=${GOSCRY_REALWORLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/goscry/realworld}
mkdir -p "$cache" "$(dirname "$manifest")"
go=$("$here/go-env.sh" --print-go)

# name  package@version  toolchain
servers=(
  "nats-server github.com/nats-io/nats-server/v2@v2.15.3 local"
  "victoria-metrics github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@v1.151.0 1.27.3"
)

tmp_manifest=$(mktemp)
trap 'rm -f "$tmp_manifest"' EXIT
for line in "${servers[@]}"; do
  read -r name pkg tc <<< "$line"
  case $tc in local) toolchain=local ;; *) toolchain=go$tc ;; esac
  # The key names the toolchain's exact version, so a newer local Go rebuilds.
  gover=$(GOTOOLCHAIN=$toolchain "$go" env GOVERSION 2>/dev/null || true)
  if [ -z "$gover" ]; then
    echo "build-realworld: toolchain $toolchain unavailable; $name not built" >&2
    continue
  fi
  dir="$cache/${pkg//\//_}+$gover"
  if [ ! -x "$dir/$name" ]; then
    echo "build-realworld: building $pkg with $gover" >&2
    start=$SECONDS
    # Built aside and renamed: two builds at once (two worktrees) never see half a binary.
    tmp=$(mktemp -d "$dir.tmp.XXXXXX")
    if GOBIN="$tmp" GOTOOLCHAIN=$toolchain CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
         "$go" install -trimpath -ldflags="-s -w" "$pkg" > "$dir.log" 2>&1; then
      mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"  # another build got there first
      echo "build-realworld: $name built in $((SECONDS - start)) s" >&2
    else
      rm -rf "$tmp"
      echo "build-realworld: $pkg with $gover failed; see $dir.log" >&2
      continue
    fi
  fi
  echo "$name $dir/$name" >> "$tmp_manifest"
done
mv "$tmp_manifest" "$manifest"
trap - EXIT
