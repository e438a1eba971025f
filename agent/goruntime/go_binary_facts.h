// What goscry knows of one Go binary, whichever process runs it: its function index
// (.gopclntab), the runtime's struct layout for its Go version, where runtime.allglen and
// runtime.allgptr are, where the heap, block and mutex profiles' globals are, and the
// bounds of runtime.goexit. Computed once per binary (per build-id, through the module
// cache) and shared, read-only, by every process that runs it: a node running one binary
// in ten containers indexes it once, not thirty times (the BPF watch, the leak detector and
// the CPU profiler each used to open their own copy).
// A process adds only its load bias (GoProcess). docs/architecture.md "goruntime/".
#pragma once

#include <memory>
#include <optional>

#include "symbolizer/error.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/process_symbolizer.h"
#include "symbolizer/runtime_globals.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {

struct GoBinaryFacts {
  std::shared_ptr<const GoBinary> binary;
  // Each may be missing on its own (an unknown Go version, a stripped allgs): a reader that
  // needs it refuses the process, the symbolizer does not.
  Result<RuntimeLayout> layout;
  Result<AllgAddresses> allgs;  // link-time addresses
  std::optional<FuncBounds> goexit;
  // Link-time addresses too. Found here once, not at each read of a profile: in a stripped
  // binary that means decoding runtime code, which was a third of the agent's periodic heap
  // reads (100 targets, scripts/bench-fleet.sh).
  Result<HeapProfileAddresses> heap_profile;
  Result<ContentionProfileAddresses> contention_profile;
};

// A function's code in `binary` (file addresses), for the pattern searches that find the
// runtime's globals in stripped builds.
std::optional<CodeRange> function_code(const GoBinary& binary, std::string_view name);

// The facts of `binary`, computed on the first call for it and shared while anyone holds
// them. Thread-safe; two threads may compute the same facts once each, one copy is kept.
std::shared_ptr<const GoBinaryFacts> go_binary_facts(std::shared_ptr<const GoBinary> binary);

// The module cache of this program: every Go process handle, the agent's sources and the
// CPU profiler's symbolizers open their binaries through it, so one binary is indexed once.
std::shared_ptr<ModuleCache> shared_module_cache();

}  // namespace goscry
