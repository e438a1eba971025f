#include "symbolizer/native_symbols.h"

#include <cxxabi.h>
#include <elf.h>

#include <algorithm>
#include <cstdlib>

namespace goscry {
namespace {

// Aliases share an address (read, __read, __libc_read): the public name reads best.
int bind_rank(std::uint8_t bind) {
  if (bind == STB_GLOBAL) return 0;
  if (bind == STB_WEAK) return 1;
  return 2;
}

}  // namespace

std::string demangle(std::string_view name) {
  // Only Itanium-ABI names ("_Z...") are mangled; demangling "main" would fail anyway.
  if (!name.starts_with("_Z")) return std::string(name);
  std::string mangled(name);  // __cxa_demangle needs a NUL-terminated string
  int status = 0;
  char* out = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) {
    std::free(out);
    return mangled;
  }
  std::string result(out);
  std::free(out);
  return result;
}

NativeSymbols::NativeSymbols(std::shared_ptr<const ElfFile> elf) : elf_(std::move(elf)) {
  const auto& syms = elf_->symbols();
  for (std::size_t i = 0; i < syms.size(); ++i) {
    const ElfSymbol& s = syms[i];
    bool code = s.type == STT_FUNC || s.type == STT_GNU_IFUNC;
    if (!code || s.section_index == SHN_UNDEF || s.value == 0 || s.name.empty()) continue;
    funcs_.push_back({s.value, s.size, i});
  }
  std::sort(funcs_.begin(), funcs_.end(), [&](const Func& a, const Func& b) {
    if (a.address != b.address) return a.address < b.address;
    int ra = bind_rank(syms[a.symbol].bind), rb = bind_rank(syms[b.symbol].bind);
    if (ra != rb) return ra < rb;
    if (a.size != b.size) return a.size > b.size;
    return syms[a.symbol].name < syms[b.symbol].name;
  });
}

NativeSymbol NativeSymbols::make(const Func& f, std::uint64_t vaddr) const {
  const ElfSymbol& s = elf_->symbols()[f.symbol];
  return {demangle(s.name), s.name, f.address, f.size, vaddr - f.address};
}

Result<NativeSymbol> NativeSymbols::lookup(std::uint64_t vaddr) const {
  auto it = std::upper_bound(funcs_.begin(), funcs_.end(), vaddr,
                             [](std::uint64_t a, const Func& f) { return a < f.address; });
  auto none = [&] {
    return fail(ErrorKind::NotFound, elf_->path() + ": no function symbol at " + to_hex(vaddr));
  };
  if (it == funcs_.begin()) return none();
  auto next_start = it == funcs_.end() ? UINT64_MAX : it->address;
  // Step back to the first alias at the symbol's address (the preferred name) and take
  // the largest size any alias gives.
  std::uint64_t start = std::prev(it)->address;
  auto first = std::prev(it);
  std::uint64_t size = 0;
  for (auto a = first;; --a) {
    if (a->address != start) break;
    first = a;
    size = std::max(size, a->size);
    if (a == funcs_.begin()) break;
  }
  bool inside = size > 0 ? vaddr - start < size : vaddr < next_start;
  if (!inside) return none();
  NativeSymbol sym = make(*first, vaddr);
  sym.size = size;
  return sym;
}

Result<std::uint64_t> NativeSymbols::address_of(std::string_view name) const {
  const auto& syms = elf_->symbols();
  for (const auto& f : funcs_)
    if (syms[f.symbol].name == name) return f.address;
  return fail(ErrorKind::NotFound, elf_->path() + ": no function named " + std::string(name));
}

}  // namespace goscry
