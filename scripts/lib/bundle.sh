# bundle_goscry BUILD_DIR TRIPLET DEST: goscry of BUILD_DIR (agent/goscry, bpf/*.bpf.o) made
# runnable in a root without Debian's libraries (the QEMU guests' initramfs): DEST/bin/goscry
# stripped, every NEEDED library followed transitively in TRIPLET's multiarch dirs into
# DEST/lib/TRIPLET, and the dynamic loader at the path the binary names (PT_INTERP).
# TRIPLET: aarch64-linux-gnu (scripts/build-arm64.sh) or x86_64-linux-gnu (the amd64
# reference run of scripts/test-arm64.sh); readelf reads either, strip is the triplet's.
# Sourced; prints the number of libraries.
bundle_goscry() {
  local build=$1 triplet=$2 dest=$3 f lib path seen=" " queue interp
  local dirs=("/usr/lib/$triplet" "/lib/$triplet")
  rm -rf "$dest" && mkdir -p "$dest/bin" "$dest/lib/$triplet" "$dest/bpf"
  "$triplet-strip" -o "$dest/bin/goscry" "$build/agent/goscry"
  cp "$build"/bpf/*.bpf.o "$dest/bpf/"
  find_in_multiarch() {
    local d
    for d in "${dirs[@]}"; do [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }; done
    return 1
  }
  queue=("$dest/bin/goscry")
  while [ ${#queue[@]} -gt 0 ]; do
    f=${queue[0]} queue=("${queue[@]:1}")
    for lib in $(readelf -d "$f" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p'); do
      case "$seen" in *" $lib "*) continue ;; esac
      seen="$seen$lib "
      path=$(find_in_multiarch "$lib") || { echo "bundle: no $triplet $lib (needed by $(basename "$f"))" >&2; return 2; }
      cp -L "$path" "$dest/lib/$triplet/$lib"
      queue+=("$dest/lib/$triplet/$lib")
    done
  done
  interp=$(readelf -l "$build/agent/goscry" | sed -nE 's/.*interpreter: (.*)\]/\1/p')
  mkdir -p "$dest$(dirname "$interp")"
  cp -L "$(find_in_multiarch "$(basename "$interp")")" "$dest$interp"
  echo "$seen" | wc -w
}
