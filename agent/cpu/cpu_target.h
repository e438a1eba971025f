// What the CPU sampler (bpf/cpu.bpf.c) needs to know of a Go target beyond its tgid: where
// the current g lives in TLS, the runtime.g/m offsets that lead to the goroutine's id and
// pprof labels, and the range of Go text (the frameless-leaf return address check).
#pragma once

#include "agent/goruntime/go_process.h"
#include "bpf/cpu.h"

namespace goscry {

// The settings of a Go target; `goid` keys samples by goroutine id as well. A runtime
// layout without g.m, m.curg, g.goid or g.labels gives all zeros (stacks only).
goscry_cpu_target go_cpu_target(const GoProcess& target, bool goid);

// The offset of runtime.tlsg from the thread pointer (fsbase) on amd64: the executable's
// TLS block sits just below it (variant II), so tlsg is at its offset in PT_TLS minus the
// block's size rounded up to its alignment. -8 for every Go binary seen so far (internal
// linking has no PT_TLS and hard-codes FS:-8); computed for cgo builds whose C code adds
// TLS of its own. Stripped binaries have no runtime.tlsg symbol: it is assumed first.
std::int64_t go_tls_g_offset(const ElfFile& elf);

}  // namespace goscry
