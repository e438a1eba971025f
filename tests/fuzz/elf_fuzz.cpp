// ElfFile on arbitrary bytes: every section (decompressed), the symbol tables, notes,
// address translation, and the native symbol index built on top. Nothing may crash, leak
// or allocate without bound.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/native_symbols.h"

namespace {

// Reads every byte of a view so that ASan sees any out-of-range span.
std::uint8_t touch(goscry::ByteReader r) {
  std::uint8_t x = 0;
  for (std::uint8_t b : r.bytes()) x ^= b;
  return x;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto elf = goscry::ElfFile::from_bytes(std::vector<std::uint8_t>(data, data + size), "fuzz");
  if (!elf) return 0;
  const goscry::ElfFile& f = **elf;
  volatile std::uint8_t sink = 0;
  for (const auto& s : f.sections()) {
    if (auto d = f.section_data(s)) sink = sink ^ touch(*d);
  }
  (void)f.has_dwarf();
  (void)f.build_id();
  (void)f.go_build_id();
  for (const auto& p : f.segments()) {
    (void)f.offset_to_vaddr(p.offset);
    if (auto r = f.read_vaddr(p.vaddr, p.filesz < 64 ? p.filesz : 64)) sink = sink ^ touch(*r);
  }
  for (const auto& sym : f.symbols()) (void)f.vaddr_to_offset(sym.value);
  goscry::NativeSymbols natives(*elf);
  for (const auto& sym : f.symbols()) {
    if (auto hit = natives.lookup(sym.value + 1))
      sink = sink ^ static_cast<std::uint8_t>(hit->name.size());
  }
  (void)sink;
  return 0;
}
