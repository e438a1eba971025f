# Debian's kernel packages for the QEMU guests of scripts/test-kernels.sh (amd64) and
# scripts/test-arm64.sh (arm64), sourced by both. Each kernel is fetched once with
# `apt-get download` through a private apt configuration whose archive is the one this
# machine's apt sources name, and kept unpacked in $cache.
#
# The sourcing script sets: kernel_arch (amd64 | arm64), cache (the unpacked kernels and the
# private apt state), refresh (1: resolve the newest kernel of each series again), and
# defines log and die.

# --- Debian archive, derived from this machine's apt sources --------------------------------

# Prints "URI SUITE" for every enabled deb source, one-line (.list) and deb822 (.sources).
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    sed -E 's/#.*//; s/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2, $3 }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'function flush() { if (deb && enabled) for (i in su) for (j in ur) print ur[j], su[i];
                            deb = 0; enabled = 1; delete su; delete ur }
         BEGIN { enabled = 1 }
         /^[[:space:]]*#/ { next }
         /^[[:space:]]*$/ { flush(); next }
         tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
         tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
         tolower($1) == "uris:" { for (i = 2; i <= NF; i++) ur[i] = $i }
         tolower($1) == "suites:" { for (i = 2; i <= NF; i++) su[i] = $i }
         END { flush() }' "$f"
  done
}

# The archive serving Debian's releases, and (if any) the one serving their security updates.
debian_archive() {
  apt_sources | awk '$2 ~ /^(bullseye|bookworm|trixie|forky|duke|sid|oldstable|stable|testing|unstable)$/ \
                       { print $1; exit }'
}
debian_security_archive() {
  apt_sources | awk '$2 ~ /^(bullseye|bookworm|trixie|forky|duke|stable|oldstable)-security$/ \
                       { print $1; exit }'
}

aptdir=$cache/apt
APT=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State=$aptdir/state" -o "Dir::State::status=$aptdir/state/status"
     -o "Dir::Cache=$aptdir/cache" -o Debug::NoLocking=1 -o "APT::Architecture=$kernel_arch"
     -o Acquire::Languages=none -o APT::Sandbox::User=root
     -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
     -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
     -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false)

# Writes the private sources list (the suites each series comes from) and reads its indexes,
# once per run and only when a kernel has to be resolved.
apt_ready=0
private_apt_update() {
  [ "$apt_ready" = 1 ] && return 0
  local archive security
  archive=$(debian_archive)
  [ -n "$archive" ] || die "no Debian archive in this machine's apt sources (/etc/apt)"
  security=$(debian_security_archive)
  mkdir -p "$aptdir/state/lists/partial" "$aptdir/cache/archives/partial"
  : > "$aptdir/state/status"
  {
    local s
    for s in bullseye bookworm bookworm-backports trixie sid; do
      echo "deb [arch=$kernel_arch] $archive $s main"
    done
    if [ -n "$security" ]; then
      for s in bullseye-security bookworm-security trixie-security; do
        echo "deb [arch=$kernel_arch] $security $s main"
      done
    fi
  } > "$aptdir/sources.list"
  log "reading the package indexes of $archive${security:+ and $security}"
  apt-get "${APT[@]}" -qq update || die "apt-get update through $aptdir/sources.list failed"
  apt_ready=1
}

# --- Kernel series -> newest package -> unpacked kernel in the cache -------------------------

# The package-name pattern of each series' kernel for $kernel_arch; 7.x is split (binary,
# modules, base).
series_pattern() {
  case "$1" in
    5.10) echo "^linux-image-5\\.10\\.0-[0-9]+-$kernel_arch\$" ;;
    6.1) echo "^linux-image-6\\.1\\.0-[0-9]+-$kernel_arch\$" ;;
    6.12) echo "^linux-image-6\\.12\\.[0-9]+\\+deb[0-9]+-$kernel_arch\$" ;;
    7|7.x) echo "^linux-binary-7\\.[0-9]+\\.[0-9]+\\+deb[0-9]+-$kernel_arch\$" ;;
    *) die "unknown kernel series '$1' (known: 5.10 6.1 6.12 7)" ;;
  esac
}

# Prints the kernel release (uname -r) of the series' newest package in the archive.
# Prints the kernel releases of the series' packages in the archive, newest first, at most 16:
# an index can name a package its pool does not serve (bullseye-security's arm64 5.10
# images answered 404 on 2026-12-05), and kernel_of_series then takes the next.
resolve_newest() {
  local pattern pkgs
  pattern=$(series_pattern "$1")
  pkgs=$(apt-cache "${APT[@]}" pkgnames linux- | grep -E "$pattern" | sort -rV | head -n16)
  [ -n "$pkgs" ] || die "no package matching $pattern in the archive for kernel $1"
  echo "$pkgs" | sed -E 's/^linux-(image|binary)-//'
}

packages_of() {
  case "$1" in
    7.*) echo "linux-binary-$1 linux-modules-$1 linux-base-$1" ;;
    *) echo "linux-image-$1" ;;
  esac
}

# What a guest needs from the image: the kernel, the module indexes depmod reads, and the
# modules of virtme-ng's 9p root, its overlays and virtio devices (built in on newer kernels).
UNPACK=('*/vmlinuz*' '*/modules.order' '*/modules.builtin' '*/modules.builtin.modinfo'
        '*/kernel/fs/9p/*' '*/kernel/net/9p/*' '*/kernel/fs/netfs/*' '*/kernel/fs/fscache/*'
        '*/kernel/fs/overlayfs/*' '*/kernel/drivers/virtio/*' '*/kernel/drivers/char/virtio_console*'
        '*/kernel/drivers/block/virtio_blk*')

# virtme-ng's initramfs loads modules with a plain insmod, which cannot read Debian's
# xz- or zstd-compressed ones ("Invalid ELF header magic").
decompress_modules() {
  find "$1" -name '*.ko.xz' -exec xz -d {} +
  find "$1" -name '*.ko.zst' -exec zstd -q -d --rm {} +
}

# Downloads the kernel's packages and keeps only what UNPACK names, laid out as virtme-ng
# expects (DIR/boot/vmlinuz-K, DIR/lib/modules/K with modules.dep).
fetch_kernel() {
  local kver=$1 dest=$cache/$1 tmp deb
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  log "downloading $(packages_of "$kver")"
  # shellcheck disable=SC2046
  (cd "$tmp" && apt-get "${APT[@]}" -qq download $(packages_of "$kver")) ||
    { log "apt-get download $(packages_of "$kver") failed"; rm -rf "$tmp"; return 1; }
  mkdir "$tmp/root"
  for deb in "$tmp"/*.deb; do
    # tar exits 2 when a pattern matches nothing in this package; the checks below decide.
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/root" --wildcards "${UNPACK[@]}" 2>/dev/null || true
  done
  if [ -d "$tmp/root/usr/lib/modules" ]; then
    mkdir -p "$tmp/root/lib/modules"
    mv "$tmp/root/usr/lib/modules/$kver" "$tmp/root/lib/modules/"
  fi
  mkdir -p "$tmp/root/boot"
  [ -f "$tmp/root/lib/modules/$kver/vmlinuz" ] &&
    mv "$tmp/root/lib/modules/$kver/vmlinuz" "$tmp/root/boot/vmlinuz-$kver"
  [ -f "$tmp/root/boot/vmlinuz-$kver" ] || die "no vmlinuz in $(packages_of "$kver")"
  [ -f "$tmp/root/lib/modules/$kver/modules.order" ] || die "no modules.order in $(packages_of "$kver")"
  decompress_modules "$tmp/root/lib/modules/$kver"
  depmod -b "$tmp/root" "$kver" || die "depmod of $kver failed"
  rm -rf "$dest"
  mv "$tmp/root" "$dest"
  rm -rf "$tmp"
  log "kernel $kver: $(du -sh "$dest" | cut -f1) unpacked in $dest"
}

# Sets $kver to the cached kernel release of a series, fetching the newest first when there is
# none (or with --refresh). Not in a subshell: the apt indexes are read once per run.
kernel_of_series() {
  local s=$1 link=$cache/series-$1
  kver=""
  [ "$refresh" = 0 ] && [ -f "$link" ] && kver=$(cat "$link")
  if [ -n "$kver" ] && [ -f "$cache/$kver/boot/vmlinuz-$kver" ]; then return 0; fi
  private_apt_update
  local k
  kver=""
  for k in $(resolve_newest "$s"); do
    if [ -f "$cache/$k/boot/vmlinuz-$k" ] || fetch_kernel "$k"; then kver=$k; break; fi
    log "kernel $k: not served by the archive, trying the series' next newest"
  done
  [ -n "$kver" ] || die "no kernel of series $s could be downloaded"
  echo "$kver" > "$link"
}

# Downloads packages of $kernel_arch by name into directory $1, through the private apt
# configuration (busybox-static for the arm64 guests' initramfs).
apt_download() {
  local dir=$1; shift
  private_apt_update
  (cd "$dir" && apt-get "${APT[@]}" -qq download "$@") || die "apt-get download $* failed"
}
