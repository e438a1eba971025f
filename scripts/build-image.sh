#!/usr/bin/env bash
# Builds the goscry agent image from the Dockerfile with buildah, for machines where no
# Docker daemon runs: a manifest list IMAGE_NAME with one image per platform. When no
# container registry is reachable, the Debian 12 base image is made with debootstrap from the
# Debian mirror apt already uses, and imported into buildah.
#
#   scripts/build-image.sh [--platforms LIST] [IMAGE_NAME]
#       LIST        default linux/amd64,linux/arm64 (the only two the Dockerfile builds)
#       IMAGE_NAME  default localhost/goscry:latest; replaced if it exists
#
# The build stage runs on this (amd64) machine for every platform and cross-compiles for
# arm64, so no emulator is needed. Push both with
# `buildah --storage-driver vfs manifest push --all IMAGE_NAME docker://REGISTRY/goscry:TAG`.
#
# Storage is vfs and isolation chroot, which work inside unprivileged or nested containers
# (no overlay mounts, no user namespaces needed). Needs root, buildah and debootstrap
# (Debian packages of the same names).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
platforms=linux/amd64,linux/arm64
if [ "${1:-}" = --platforms ]; then
  platforms=${2:?--platforms needs a list, e.g. linux/amd64,linux/arm64}
  shift 2
fi
image=${1:-localhost/goscry:latest}
base=localhost/goscry-debian:12
export BUILDAH_ISOLATION=chroot
bh=(buildah --storage-driver vfs)

log() { echo "build-image: $*" >&2; }

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { log "$tool is not installed (apt-get install $tool)"; exit 1; }
done

# The Debian mirror apt is configured with (never written into the repo).
debian_mirror() {
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
        grep -v security | head -n1)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -n1)
  echo "$uri"
}

make_base() {
  if "${bh[@]}" inspect --type image "$base" >/dev/null 2>&1; then
    log "base $base already present"
    return
  fi
  local mirror rootfs
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { log "no Debian mirror in the apt sources"; exit 1; }
  rootfs=$(mktemp -d /tmp/goscry-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' RETURN
  log "debootstrap bookworm (minbase) into $rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    { log "debootstrap failed; see $rootfs.log"; exit 1; }
  rm -f "$rootfs.log"
  # Use the same mirror inside, in the deb822 form Debian 12 images have.
  rm -f "$rootfs/etc/apt/sources.list"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" >"$rootfs/etc/apt/sources.list.d/debian.sources"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb
  local c
  c=$("${bh[@]}" from scratch)
  "${bh[@]}" copy "$c" "$rootfs/" / >/dev/null
  "${bh[@]}" config --cmd /bin/bash "$c"
  "${bh[@]}" commit -q "$c" "$base" >/dev/null
  "${bh[@]}" rm "$c" >/dev/null
  log "base $base made"
}

# A previous build of the same name goes first: --manifest adds to an existing list (a
# rebuild would keep the old images beside the new), and `manifest rm` leaves the images
# the list held, found here by their manifest digests. Before multi-arch, it was one image.
remove_previous() {
  local digests
  if "${bh[@]}" manifest exists "$image"; then
    digests=$("${bh[@]}" manifest inspect "$image" | sed -nE 's/.*"digest": "(sha256:[0-9a-f]+)".*/\1/p')
    "${bh[@]}" manifest rm "$image" >/dev/null
    [ -z "$digests" ] ||
      "${bh[@]}" images --digests --format '{{.ID}} {{.Digest}}' | grep -F "$digests" |
        awk '{print $1}' | xargs -r "${bh[@]}" rmi >/dev/null
  elif "${bh[@]}" inspect --type image "$image" >/dev/null 2>&1; then
    "${bh[@]}" rmi "$image" >/dev/null
  fi
}

make_base
remove_previous
# BuildKit sets BUILDPLATFORM and BUILDARCH itself; buildah 1.28 (Debian 12) does not, and
# without them `FROM --platform=$BUILDPLATFORM` would look for an arm64 base.
buildarch=$(dpkg --print-architecture)
log "building $image for $platforms on $buildarch"
"${bh[@]}" bud --pull=never --isolation chroot --layers=false \
  --platform "$platforms" --manifest "$image" \
  --build-arg BUILDPLATFORM="linux/$buildarch" --build-arg BUILDARCH="$buildarch" \
  --build-arg BASE="$base" -f "$root/Dockerfile" "$root"
log "done: $image"
