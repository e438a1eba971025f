// Function symbols of native (C, C++, assembly) code: the libc and cgo frames of a Go
// process's stacks, and the non-Go parts of a cgo binary. Built from the ELF's .symtab,
// else .dynsym (what a stripped shared library keeps); C++ names are demangled.
// Addresses are ELF virtual addresses: turn a runtime address into one with
// ProcMaps::module_address first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

struct NativeSymbol {
  std::string name;     // demangled
  std::string mangled;  // as in the symbol table ("_ZNSt6chrono3_V212system_clock3nowEv")
  std::uint64_t address = 0;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;  // of the looked-up address from `address`
};

// The demangled form of a C++ symbol name, or the name itself when it is not mangled.
std::string demangle(std::string_view name);

class NativeSymbols {
 public:
  // Indexes the FUNC (and IFUNC) symbols of `elf`; an ELF without symbols gives an empty
  // table, not an error.
  explicit NativeSymbols(std::shared_ptr<const ElfFile> elf);

  std::size_t size() const { return funcs_.size(); }
  // Its index's heap (the ELF's symbol table is the ElfFile's).
  std::uint64_t heap_bytes() const { return funcs_.capacity() * sizeof(Func); }
  const std::shared_ptr<const ElfFile>& elf() const { return elf_; }

  // The function that contains vaddr: within its size, or, for a symbol of size 0 (some
  // assembly), up to the next symbol.
  Result<NativeSymbol> lookup(std::uint64_t vaddr) const;
  // The address of a function by (mangled) name.
  Result<std::uint64_t> address_of(std::string_view name) const;

 private:
  struct Func {
    std::uint64_t address;
    std::uint64_t size;
    std::size_t symbol;  // index into elf_->symbols()
  };
  NativeSymbol make(const Func& f, std::uint64_t vaddr) const;

  std::shared_ptr<const ElfFile> elf_;
  std::vector<Func> funcs_;  // sorted by address; among aliases, global before weak/local
};

}  // namespace goscry
