// GoBinary::from_elf end to end on arbitrary bytes: the ELF, .go.buildinfo, the pclntab
// (by section or by magic), moduledata, then what `goscry info` and `symbolize` do with
// it: the probe points, and frames over a PC sweep of the text, one by one and batched.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/probe_points.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto elf = goscry::ElfFile::from_bytes(std::vector<std::uint8_t>(data, data + size), "fuzz");
  if (!elf) return 0;
  auto bin = goscry::GoBinary::from_elf(*elf);
  if (!bin) return 0;
  const goscry::GoBinary& b = **bin;
  volatile std::size_t sink = b.go_version().size() + b.pclntab_format().size();
  for (const auto& p : goscry::probe_points(b)) sink = sink + p.function.size() + p.missing.size();
  const goscry::Pclntab& t = b.pclntab();
  if (t.num_functions() == 0) return 0;
  // 512 PCs spread over the table's range, plus both ends and beyond.
  const std::uint64_t lo = t.entry(0), hi = t.end(t.num_functions() - 1);
  std::vector<std::uint64_t> pcs = {lo - 1, lo, hi - 1, hi};
  for (std::uint64_t k = 0; k < 512; ++k) pcs.push_back(lo + (hi - lo) / 512 * k + k % 7);
  for (auto pc : pcs) {
    for (const auto& f : b.frames(pc)) sink = sink + f.function.size() + f.file.size();
    if (auto fb = b.function_at(pc)) (void)b.find_function(fb->name);
  }
  for (const auto& frames : b.frames_batch(pcs)) sink = sink + frames.size();
  (void)sink;
  return 0;
}
