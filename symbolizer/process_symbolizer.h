// Any address of a live process, symbolized the one way every verb does it (symbolize,
// and later dump and record): Go code through its binary's .gopclntab (inlined frames
// included), native code (cgo, libc, any shared library) through its ELF symbols
// (demangled), kernel addresses through /proc/kallsyms. Each address is placed through a
// snapshot of /proc/PID/maps; files are opened through /proc/PID/root (containers) and
// shared, with what was built from them, in a BinaryCache keyed by build-id.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "symbolizer/binary_cache.h"
#include "symbolizer/error.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/kallsyms.h"
#include "symbolizer/native_symbols.h"
#include "symbolizer/proc_maps.h"

namespace goscry {

// What goscry keeps of one opened module: its Go tables when it is a Go binary, and its
// native function symbols (a cgo binary has both).
struct ModuleSymbols {
  std::shared_ptr<const GoBinary> go;  // null: not a Go binary (or a corrupt one)
  NativeSymbols native;
  Error go_error;  // why `go` is null: "<path>: not a Go binary (...)"
};
using ModuleCache = BinaryCache<ModuleSymbols>;
// The cache entries weighed by module_heap_bytes (for set_budget_bytes).
std::shared_ptr<ModuleCache> make_module_cache(std::size_t capacity = 64);
std::uint64_t module_heap_bytes(const ModuleSymbols& m);

enum class AddressKind { Go, Native, Kernel, Unknown };
// "go", "native", "kernel", "unknown"
const char* address_kind_name(AddressKind k);

// The module and frame name of an address in the kernel's vDSO (clock_gettime, getrandom).
inline constexpr const char* kVdsoModule = "[vdso]";

struct SymbolizedAddress {
  std::uint64_t address = 0;
  AddressKind kind = AddressKind::Unknown;
  // The module's path inside the target, "[kernel]" / the kernel module's name, or "[vdso]".
  std::string module;
  std::uint64_t module_vaddr = 0;  // the address in the module's ELF (Go and native)
  // Innermost first. Go: every inlined frame, then the physical function. Native and
  // kernel: one frame, the symbol (file "?", line 0), offset in `offset`.
  std::vector<Frame> frames;
  std::uint64_t offset = 0;  // native and kernel: of the address from the symbol's start
  std::string error;         // Unknown: why (unmapped, anonymous memory, no symbol, ...)
};

// The load bias: how far the file's ELF vaddrs are from where the process has them (runtime
// address = vaddr + bias). 0 for ET_EXEC; for a PIE or a shared library, from the mapping of
// `path` (as the target names it) with the lowest file offset. The one computation of it:
// symbolization, the probes' addresses and the goroutine reader all take it from here.
Result<std::uint64_t> load_bias(const ProcMaps& maps, const ElfFile& elf, const std::string& path);
// The same for the executable of process `pid` (/proc/PID/exe), reading its maps now.
Result<std::uint64_t> load_bias(pid_t pid, const ElfFile& elf);

class ProcessSymbolizer {
 public:
  // Takes a snapshot of the process's mappings now. `cache` may be shared between
  // processes; null = a private one.
  static Result<std::unique_ptr<ProcessSymbolizer>> create(
      pid_t pid, std::shared_ptr<ModuleCache> cache = nullptr);

  pid_t pid() const { return maps_.pid(); }
  const ProcMaps& maps() const { return maps_; }
  // Re-reads /proc/PID/maps (after the process loaded a library).
  Result<void> refresh_maps();

  // The cached module of a file (a path as the target sees it), opened through its mapping.
  Result<ModuleCache::Entry> module(const std::string& path);

  SymbolizedAddress symbolize(std::uint64_t address);
  // The same as symbolize() on each, with one pass per Go function over all its addresses
  // and each module looked up once.
  std::vector<SymbolizedAddress> symbolize(std::span<const std::uint64_t> addresses);

 private:
  ProcessSymbolizer() = default;
  const Kallsyms* kallsyms();
  void symbolize_kernel(SymbolizedAddress& out);

  ProcMaps maps_;
  std::shared_ptr<ModuleCache> cache_;
  // The host's kallsyms, shared by every symbolizer (see shared_kallsyms()); taken on the
  // first kernel address.
  std::shared_ptr<const Result<Kallsyms>> kallsyms_;
};

}  // namespace goscry
