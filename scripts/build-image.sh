#!/usr/bin/env bash
# Builds the goscry agent image from the Dockerfile with buildah, for machines where no
# Docker daemon runs. When no container registry is reachable, the Debian 12 base image is
# made with debootstrap from the Debian mirror apt already uses, and imported into buildah.
#
#   scripts/build-image.sh [IMAGE_NAME]        (default localhost/goscry:latest)
#
# Storage is vfs and isolation chroot, which work inside unprivileged or nested containers
# (no overlay mounts, no user namespaces needed). Needs root, buildah and debootstrap
# (Debian packages of the same names).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
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

make_base
log "building $image"
"${bh[@]}" bud --pull=never --isolation chroot --layers=false \
  --build-arg BASE="$base" -t "$image" -f "$root/Dockerfile" "$root"
log "done: $image"
