// .go.buildinfo on arbitrary bytes: the input is an ELF file (the seeds are real binaries
// cut down to their notes and .go.buildinfo), read through read_buildinfo — by section
// name, else by the magic — and, separately, the raw input as a buildinfo blob, so the
// fuzzer reaches the blob parser without having to build a valid ELF first.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "symbolizer/buildinfo.h"
#include "symbolizer/elf_file.h"

namespace {

void use(const goscry::BuildInfo& bi) {
  volatile std::size_t sink = bi.go_version.size() + bi.path.size() + bi.modinfo.size();
  for (const auto& [k, v] : bi.settings) sink = sink + k.size() + v.size();
  (void)goscry::go_minor_version(bi.go_version);
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto elf = goscry::ElfFile::from_bytes(std::vector<std::uint8_t>(data, data + size), "fuzz");
  if (!elf) return 0;
  if (auto bi = goscry::read_buildinfo(**elf)) use(*bi);
  // The whole file as the blob (pointer-format buildinfo then reads through the ELF).
  if (auto bi = goscry::parse_buildinfo((*elf)->file_bytes(), **elf)) use(*bi);
  return 0;
}
