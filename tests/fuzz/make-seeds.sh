#!/usr/bin/env bash
# Makes the fuzz seed corpora from the fixture binaries: small but real inputs, so the
# fuzzer starts from every shape of ELF goscry meets instead of from nothing.
#   elf/        per variant of the `hello` fixture: an ELF cut down to its notes and
#               .go.buildinfo, one with a compressed debug section, and the first 64 KiB
#               (a truncated file); plus C objects with zlib and .zdebug (GNU) DWARF and a
#               small shared object with .dynsym
#   proc_maps/  /proc/self/maps of this shell
#   kallsyms/   the first lines of /proc/kallsyms
# usage: make-seeds.sh OUTDIR FIXTURE_DIR
set -euo pipefail
out=${1:?outdir}
fixtures=${2:?fixture dir}
rm -rf "$out"
mkdir -p "$out/elf" "$out/proc_maps" "$out/kallsyms"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

awk '$2 == "hello" { print $3, $4 }' "$fixtures/manifest.txt" | head -n 4 |
while read -r variant path; do
  objcopy --only-section=.note.go.buildid --only-section=.note.gnu.build-id \
    --only-section=.go.buildinfo "$path" "$out/elf/$variant-notes" 2>/dev/null || true
  objcopy --only-section=.note.go.buildid --only-section=.go.buildinfo \
    --only-section=.debug_abbrev --only-section=.zdebug_abbrev "$path" "$out/elf/$variant-debug" 2>/dev/null || true
  head -c 65536 "$path" > "$out/elf/$variant-truncated"
done

cat > "$tmp/seed.c" <<'C'
struct point { int x, y; };
int add(int a, int b) { return a + b; }
int norm1(const struct point* p) { return (p->x < 0 ? -p->x : p->x) + (p->y < 0 ? -p->y : p->y); }
C
cc -c -g -gz=zlib "$tmp/seed.c" -o "$out/elf/c-object-zlib.o"
cc -c -g -gz=zlib-gnu "$tmp/seed.c" -o "$out/elf/c-object-zdebug.o" 2>/dev/null || true
cc -shared -fPIC -Wl,--build-id "$tmp/seed.c" -o "$out/elf/c-shared.so"
strip "$out/elf/c-shared.so"  # .dynsym only

cp /proc/self/maps "$out/proc_maps/self"
head -n 200 /proc/kallsyms > "$out/kallsyms/head"
echo "make-seeds: $(find "$out" -type f | wc -l) seeds in $out"
