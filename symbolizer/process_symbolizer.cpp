#include "symbolizer/process_symbolizer.h"

#include <elf.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>

namespace goscry {
namespace {

// x86-64 kernel addresses: the upper canonical half. User space never maps there.
constexpr std::uint64_t kKernelStart = 0xffff800000000000ull;

Result<std::shared_ptr<const ModuleSymbols>> index_module(std::shared_ptr<const ElfFile> elf) {
  // The modules of a process: a Go module of another architecture than the host's is not
  // one goscry can read in a process (check_architecture), even though GoBinary reads it.
  auto arch = check_architecture(*elf);
  auto go = arch ? GoBinary::from_elf(elf)
                 : Result<std::shared_ptr<GoBinary>>(std::unexpected(arch.error()));
  // Not being a Go binary is normal (libc); a corrupt Go table leaves the native symbols.
  std::shared_ptr<const GoBinary> go_ptr = go ? std::shared_ptr<const GoBinary>(*go) : nullptr;
  return std::make_shared<const ModuleSymbols>(ModuleSymbols{
      go_ptr, NativeSymbols(elf), go ? Error{ErrorKind::Unsupported, "", 0} : go.error()});
}

// /proc/kallsyms is the host's, the same for every process: one parsed copy for all
// symbolizers. Parsing it costs ~100 ms of CPU and a few MiB, which an agent profiling ten
// targets paid ten times (and again for every new target). Re-read when older than ten
// minutes, so kernel modules loaded since are found.
std::shared_ptr<const Result<Kallsyms>> shared_kallsyms() {
  static std::mutex mu;
  static std::shared_ptr<const Result<Kallsyms>> current;
  static std::chrono::steady_clock::time_point loaded;
  std::lock_guard lock(mu);
  const auto now = std::chrono::steady_clock::now();
  if (!current || now - loaded > std::chrono::minutes(10)) {
    current = std::make_shared<const Result<Kallsyms>>(Kallsyms::load());
    loaded = now;
  }
  return current;
}

}  // namespace

// The decoded tables of a module: what its cache entry costs beyond the file's mapping
// (whose pages the agent releases, symbolizer/elf_file.h).
std::uint64_t module_heap_bytes(const ModuleSymbols& m) {
  std::uint64_t n = m.native.heap_bytes() + m.native.elf()->heap_bytes();
  if (m.go && m.go->elf_ptr() != m.native.elf()) n += m.go->elf().heap_bytes();
  return n;
}

std::shared_ptr<ModuleCache> make_module_cache(std::size_t capacity) {
  return std::make_shared<ModuleCache>(capacity, index_module, module_heap_bytes);
}

const char* address_kind_name(AddressKind k) {
  switch (k) {
    case AddressKind::Go:
      return "go";
    case AddressKind::Native:
      return "native";
    case AddressKind::Kernel:
      return "kernel";
    case AddressKind::Unknown:
      break;
  }
  return "unknown";
}

Result<std::uint64_t> load_bias(const ProcMaps& maps, const ElfFile& elf, const std::string& path) {
  if (elf.elf_type() != ET_DYN) return 0;
  auto ms = maps.mappings_of(path);
  if (ms.empty())
    return fail(ErrorKind::NotFound,
                path + " is not mapped in process " + std::to_string(maps.pid()));
  const Mapping* low = ms.front();
  for (const Mapping* m : ms)
    if (m->offset < low->offset) low = m;
  auto vaddr = file_offset_to_vaddr(elf, *low, low->offset);
  if (!vaddr)
    return fail(ErrorKind::Unsupported,
                path + ": file offset " + to_hex(low->offset) + " is in no loadable segment");
  return low->start - *vaddr;
}

Result<std::uint64_t> load_bias(pid_t pid, const ElfFile& elf) {
  if (elf.elf_type() != ET_DYN) return 0;
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  char buf[4096];
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) return fail_errno(errno, link);
  std::string exe(buf, static_cast<std::size_t>(n));
  // As in /proc/PID/maps, whose mappings_of() compares paths without the suffix.
  if (constexpr std::string_view kDeleted = " (deleted)"; exe.ends_with(kDeleted))
    exe.resize(exe.size() - kDeleted.size());
  auto maps = ProcMaps::read(pid);
  if (!maps) return std::unexpected(maps.error());
  return load_bias(*maps, elf, exe);
}

Result<std::unique_ptr<ProcessSymbolizer>> ProcessSymbolizer::create(
    pid_t pid, std::shared_ptr<ModuleCache> cache) {
  auto maps = ProcMaps::read(pid);
  if (!maps) return std::unexpected(maps.error());
  std::unique_ptr<ProcessSymbolizer> s(new ProcessSymbolizer());
  s->maps_ = std::move(*maps);
  s->cache_ = cache ? std::move(cache) : make_module_cache();
  return s;
}

Result<void> ProcessSymbolizer::refresh_maps() {
  auto maps = ProcMaps::read(maps_.pid());
  if (!maps) return std::unexpected(maps.error());
  maps_ = std::move(*maps);
  return {};
}

Result<ModuleCache::Entry> ProcessSymbolizer::module(const std::string& path) {
  auto ms = maps_.mappings_of(path);
  if (ms.empty())
    return fail(ErrorKind::NotFound,
                path + " is not mapped in process " + std::to_string(maps_.pid()));
  return cache_->get(maps_.host_path(*ms.front()));
}

const Kallsyms* ProcessSymbolizer::kallsyms() {
  if (!kallsyms_) kallsyms_ = shared_kallsyms();
  return *kallsyms_ ? &**kallsyms_ : nullptr;
}

void ProcessSymbolizer::symbolize_kernel(SymbolizedAddress& out) {
  const Kallsyms* k = kallsyms();
  if (k == nullptr) {
    out.error = "kernel address, and /proc/kallsyms: " + kallsyms_->error().message;
    return;
  }
  auto sym = k->lookup(out.address);
  if (!sym) {
    out.error = sym.error().message;
    return;
  }
  out.kind = AddressKind::Kernel;
  out.module = sym->module.empty() ? "[kernel]" : std::string(sym->module);
  out.offset = sym->offset;
  out.frames.push_back(Frame{std::string(sym->name), "?", 0, false});
}

SymbolizedAddress ProcessSymbolizer::symbolize(std::uint64_t address) {
  const std::uint64_t one[] = {address};
  return std::move(symbolize(std::span<const std::uint64_t>(one)).front());
}

std::vector<SymbolizedAddress> ProcessSymbolizer::symbolize(
    std::span<const std::uint64_t> addresses) {
  std::vector<SymbolizedAddress> out(addresses.size());
  // Each mapping's module, opened once per call (the cache stats the file on every get).
  std::map<const Mapping*, Result<ModuleCache::Entry>> modules;
  // Go addresses per Go binary, batched below: the indexes into `out` and the ELF vaddrs.
  struct GoBatch {
    std::shared_ptr<const GoBinary> go;
    std::vector<std::size_t> which;
    std::vector<std::uint64_t> vaddrs;
  };
  std::map<const GoBinary*, GoBatch> go_batches;

  for (std::size_t i = 0; i < addresses.size(); ++i) {
    SymbolizedAddress& r = out[i];
    r.address = addresses[i];
    if (r.address >= kKernelStart) {
      symbolize_kernel(r);
      continue;
    }
    if (const Mapping* m = maps_.find(r.address); m && m->path == kVdsoModule) {
      // The kernel's vDSO has no file behind it; named as perf names it.
      r.kind = AddressKind::Native;
      r.module = kVdsoModule;
      r.frames.push_back(Frame{kVdsoModule, "?", 0, false});
      continue;
    }
    auto where = maps_.module_address(r.address);
    if (!where) {
      r.error = where.error().message;
      continue;
    }
    r.module = where->path;
    auto it = modules.find(where->mapping);
    if (it == modules.end())
      it = modules.emplace(where->mapping, cache_->get(maps_.host_path(*where->mapping))).first;
    if (!it->second) {
      r.error = it->second.error().message;
      continue;
    }
    const ModuleCache::Entry& e = *it->second;
    auto vaddr = file_offset_to_vaddr(*e.elf, *where->mapping, where->file_offset);
    if (!vaddr) {
      r.error =
          r.module + ": file offset " + to_hex(where->file_offset) + " is in no loadable segment";
      continue;
    }
    r.module_vaddr = *vaddr;
    if (e.payload->go && e.payload->go->pclntab().function_index(*vaddr)) {
      auto& b = go_batches[e.payload->go.get()];
      b.go = e.payload->go;
      b.which.push_back(i);
      b.vaddrs.push_back(*vaddr);
      continue;
    }
    auto sym = e.payload->native.lookup(*vaddr);
    if (!sym) {
      r.error = sym.error().message;
      continue;
    }
    r.kind = AddressKind::Native;
    r.offset = sym->offset;
    r.frames.push_back(Frame{sym->name, "?", 0, false});
  }

  for (auto& [_, b] : go_batches) {
    auto frames = b.go->frames_batch(b.vaddrs);
    for (std::size_t k = 0; k < b.which.size(); ++k) {
      SymbolizedAddress& r = out[b.which[k]];
      r.kind = AddressKind::Go;
      r.frames = std::move(frames[k]);
    }
  }
  return out;
}

}  // namespace goscry
