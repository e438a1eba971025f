// What the CPU sampler (bpf/cpu.bpf.c) needs to know of a Go target beyond its tgid: where
// the current g lives in TLS, the runtime.g/m offsets that lead to the goroutine's id and
// pprof labels, and the range of Go text (the frameless-leaf return address check).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "agent/goruntime/go_process.h"
#include "bpf/cpu.h"
#include "symbolizer/machine_code.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {

// A process opened for CPU sampling, the one way `goscry record` (cpu_session.h) and the
// agent's profiler (agent/daemon/cpu_profiler.h) both open one: its symbolizer, its Go
// handle (goroutines, pprof labels) and what the sampler is told of it (`what`, for
// CpuSampler::add_target). A process that is not Go, or whose runtime goscry cannot read,
// is sampled as native code: `go` is null, `what` all zeros and `note` says why.
struct CpuTarget {
  std::unique_ptr<ProcessSymbolizer> symbolizer;
  std::shared_ptr<const GoProcess> go;
  goscry_cpu_target what{};
  std::string note;
};

// Fails only when the process cannot be symbolized (gone, no permission). Its binaries are
// indexed once per program through `cache`, which the Go process handle shares. `go` is
// the process's Go handle as the caller opened it (`record` opens its own, the agent
// shares the target's): an error there makes a native-only target saying why.
Result<CpuTarget> open_cpu_target(pid_t pid, bool goid,
                                  Result<std::shared_ptr<const GoProcess>> go,
                                  std::shared_ptr<ModuleCache> cache = shared_module_cache());

// The settings of a Go target; `goid` keys samples by goroutine id as well. A runtime
// layout without g.m, m.curg, g.goid or g.labels gives all zeros (stacks only).
goscry_cpu_target go_cpu_target(const GoProcess& target, bool goid);

// Where the current g is in TLS, as an offset from the thread pointer.
// amd64 (fsbase): runtime.tlsg. The executable's TLS block sits just below the pointer
// (variant II), so tlsg is at its offset in PT_TLS minus the block's size rounded up to its
// alignment. -8 for every Go binary seen so far (internal linking has no PT_TLS and
// hard-codes FS:-8); computed for cgo builds whose C code adds TLS of its own. Stripped
// binaries have no runtime.tlsg symbol: it is assumed first.
// arm64 (TPIDR_EL0): runtime.tls_g, which load_g reads only in cgo binaries. The block
// sits above a 16-byte TCB (variant I): at 16 rounded up to the block's alignment, plus
// tls_g's offset in it (0 in every cgo build seen, assumed so when stripped). Without
// PT_TLS (no cgo) Go keeps g in R28 only: nullopt.
std::optional<std::int64_t> go_tls_g_offset(const ElfFile& elf, Isa isa);

}  // namespace goscry
