#!/usr/bin/env bash
# The verifier's figures of goscry's BPF objects on the running kernel: for each program, the
# instructions the verifier walked ("processed") and its size after verification ("xlated"),
# and each object's load time. Loads with `bpftool -d prog loadall` (libbpf then asks for
# the verifier's statistics) into a bpffs directory of its own, removed at the end.
# usage: scripts/bpf-program-figures.sh [BUILD_DIR]   (root; test-kernels.sh --programs runs
# it inside each guest)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${GOSCRY_BUILD_DIR:-$root/build}}
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
pins=/sys/fs/bpf/goscry-figures-$$
log=$(mktemp)
trap 'rm -rf "$pins" "$log"' EXIT
echo "kernel $(uname -r)"
for obj in "$build"/bpf/*.bpf.o; do
  rm -rf "$pins" && mkdir -p "$pins"
  t0=$(date +%s%N)
  bpftool -d prog loadall "$obj" "$pins" > "$log" 2>&1 || {
    echo "$(basename "$obj"): refused by the kernel"; tail -n 5 "$log"; exit 1; }
  printf '%s: loaded in %d ms\n' "$(basename "$obj")" $(( ($(date +%s%N) - t0) / 1000000 ))
  awk "/prog '.*': -- BEGIN PROG LOAD LOG --/ { split(\$0, q, \"'\"); prog = q[2] }
       /^processed [0-9]+ insns/ && prog != \"\" { print prog, \$2; prog = \"\" }" "$log" |
    while read -r prog processed; do
      [ -e "$pins/$prog" ] || continue
      xlated=$(bpftool prog show pinned "$pins/$prog" | sed -n 's/.*xlated \([0-9]*\)B.*/\1/p')
      printf '  %-28s processed %5d  xlated %5d B\n' "$prog" "$processed" "$xlated"
    done
done
