#!/usr/bin/env bash
# Makes the fuzz seed corpora from the fixture binaries: small but real inputs, so the
# fuzzer starts from every shape of ELF goscry meets instead of from nothing.
#   elf/        per variant of the `hello` fixture: an ELF cut down to its notes and
#               .go.buildinfo, one with a compressed debug section, and the first 64 KiB
#               (a truncated file); plus C objects with zlib and .zdebug (GNU) DWARF and a
#               small shared object with .dynsym
#   proc_maps/  /proc/self/maps of this shell
#   kallsyms/   the first lines of /proc/kallsyms
#   cgroup/     /proc/self/cgroup of this shell, a Kubernetes containerd cgroup line, an
#               environment block
#   pclntab/    .gopclntab sections (of `hello` and of Debian's go1.19 `pack`: two table
#               formats), each behind 16 bytes: runtime.text and go:func.* from nm (0
#               for a stripped binary)
#   go_binary/  whole `hello` binaries (every variant) and go1.19's `pack`
#   pod_list/   a v1 PodList of one pod (regular and init container, labels)
# usage: make-seeds.sh OUTDIR FIXTURE_DIR
set -euo pipefail
out=${1:?outdir}
fixtures=${2:?fixture dir}
rm -rf "$out"
mkdir -p "$out/elf" "$out/proc_maps" "$out/kallsyms" "$out/pclntab" "$out/go_binary" "$out/cgroup" \
  "$out/pod_list"
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

# A pclntab seed: text start and gofunc (little-endian u64 each), then the section.
pclntab_seed() {  # BINARY OUT
  local text gofunc
  text=$(nm "$1" 2>/dev/null | awk '$3 == "runtime.text" { print $1; exit }' || true)
  gofunc=$(nm "$1" 2>/dev/null | awk '$3 == "go:func.*" || $3 == "go.func.*" { print $1; exit }' || true)
  # No symbols (stripped): 0, which means "the header's textStart" (1.18-1.25 tables).
  python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<QQ", int(sys.argv[1], 16), int(sys.argv[2] or "0", 16)))' \
    "${text:-0}" "${gofunc:-0}" > "$2"
  objcopy -O binary --only-section=.gopclntab "$1" "$tmp/pclntab"
  cat "$tmp/pclntab" >> "$2"
}
old_pack=/usr/lib/go-1.19/pkg/tool/linux_amd64/pack
awk '$2 == "hello" { print $3, $4 }' "$fixtures/manifest.txt" | head -n 4 |
while read -r variant path; do
  pclntab_seed "$path" "$out/pclntab/hello-$variant"
  cp "$path" "$out/go_binary/hello-$variant"
done
if [ -f "$old_pack" ]; then
  pclntab_seed "$old_pack" "$out/pclntab/go1.19-pack"
  cp "$old_pack" "$out/go_binary/go1.19-pack"
fi

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
cp /proc/self/cgroup "$out/cgroup/self"
printf 'PATH=/usr/bin\0HOSTNAME=api-7d9f8b6c5-x2kqz\0TERM=xterm' > "$out/cgroup/environ"
printf '0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a.slice/cri-containerd-%s.scope\n' \
  4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970 > "$out/cgroup/kubepods"
id=4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970
cat > "$out/pod_list/one-pod.json" <<JSON
{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"48213402"},"items":[
{"metadata":{"name":"api-5c7d9b8f6-q4wzt","namespace":"team-a","labels":{"app":"api",
"app.kubernetes.io/name":"api"},"managedFields":[{"manager":"kubelet","fieldsV1":{}}]},
"spec":{"nodeName":"node-a","containers":[{"name":"server"}]},"status":{"phase":"Running",
"containerStatuses":[{"name":"server","containerID":"containerd://$id","ready":true}],
"initContainerStatuses":[{"name":"init","containerID":"cri-o://${id//4/5}"}]}}]}
JSON
echo "make-seeds: $(find "$out" -type f | wc -l) seeds in $out"
