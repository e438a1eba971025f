#!/usr/bin/env bash
# Finds (and with --install, provides) the Go toolchains goscry builds its fixtures with.
#
#   go-env.sh --print-go          path of a `go` >= 1.21 (toolchain switching works there)
#   go-env.sh --install           make sure that `go` exists; print its path
#   go-env.sh --go-for VERSION    path of a `go` that builds with VERSION ("1.19" is Debian's
#                                 golang-1.19; "local" is the default go; others go through
#                                 GOTOOLCHAIN and are fetched once through the module proxy)
#
# A machine without Go gets one from Debian's golang-1.19 (the bootstrap), which downloads
# the toolchain module golang.org/toolchain through the module proxy — the same artifact
# GOTOOLCHAIN uses — so no download site other than the proxy is needed.
set -euo pipefail
BOOTSTRAP_VERSION=1.26.8
GO119=/usr/lib/go-1.19/bin/go

minor_of() { "$1" env GOVERSION 2>/dev/null | sed -E 's/^go1\.([0-9]+).*/\1/'; }

find_modern_go() {
  local g
  for g in "${GOSCRY_GO:-}" "$(command -v go || true)" /usr/local/go/bin/go; do
    [ -n "$g" ] && [ -x "$g" ] || continue
    local m; m=$(GOTOOLCHAIN=local minor_of "$g")
    [ -n "$m" ] && [ "$m" -ge 21 ] && { echo "$g"; return 0; }
  done
  local cached
  cached=$(ls -d "$(gomodcache)"/golang.org/toolchain@v0.0.1-go${BOOTSTRAP_VERSION}.linux-* 2>/dev/null | head -n1 || true)
  [ -n "$cached" ] && [ -x "$cached/bin/go" ] && { echo "$cached/bin/go"; return 0; }
  return 1
}

gomodcache() { echo "${GOMODCACHE:-${GOPATH:-$HOME/go}/pkg/mod}"; }

install_go() {
  [ -x "$GO119" ] || { echo "go-env: $GO119 missing; run scripts/setup.sh" >&2; exit 1; }
  local arch; arch=$(dpkg --print-architecture)
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && GOFLAGS=-mod=mod "$GO119" mod download -x \
     "golang.org/toolchain@v0.0.1-go${BOOTSTRAP_VERSION}.linux-${arch}" >&2)
  rm -rf "$tmp"
  find_modern_go
}

case "${1:-}" in
  --print-go) find_modern_go || { echo "go-env: no Go >= 1.21; run scripts/setup.sh" >&2; exit 1; } ;;
  --install) find_modern_go || install_go ;;
  --go-for)
    v=${2:?version}
    if [ "$v" = "1.19" ]; then echo "$GO119"; else find_modern_go; fi ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
