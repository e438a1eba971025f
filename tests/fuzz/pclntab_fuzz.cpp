// Pclntab::parse on arbitrary bytes (the seeds are the .gopclntab sections of the fixtures,
// one per table format), then what goscry asks of a table: every function's name and
// bounds, name lookups, and frames (inlined ones too) over a PC sweep, one by one and in a
// batch. The first 8 bytes of the input are the text start (1.26+ tables have none), the
// next 8 the gofunc base; the inline trees are read from the input itself.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "symbolizer/pclntab.h"

namespace {

std::uint64_t le64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 16) return 0;
  std::vector<std::uint8_t> bytes(data + 16, data + size);
  goscry::ByteReader table(bytes);
  goscry::PclntabContext ctx;
  ctx.text_start = le64(data);
  ctx.gofunc = le64(data + 8);
  // The "image" is the table itself at gofunc: enough for inline trees to be walked.
  const std::uint64_t base = ctx.gofunc;
  ctx.read_image = [table, base](std::uint64_t vaddr,
                                 std::uint64_t len) -> goscry::Result<goscry::ByteReader> {
    if (vaddr < base) return goscry::fail(goscry::ErrorKind::Unsupported, "below the image");
    return table.sub(vaddr - base, len);
  };
  auto t = goscry::Pclntab::parse(table, ctx);
  if (!t) return 0;
  const goscry::Pclntab& p = **t;
  std::vector<std::uint64_t> pcs;
  std::vector<goscry::PclntabFrame> out;
  // 256 functions spread over the table: enough to reach every code path, few enough
  // that an execution stays in milliseconds under ASan.
  const std::size_t nf = p.num_functions(), step = nf / 256 + 1;
  for (std::size_t i = 0; i < nf; i += step) {
    auto name = p.name(i);
    (void)p.find(name);
    std::uint64_t e = p.entry(i), end = p.end(i);
    for (std::uint64_t pc : {e, e + (end - e) / 2, end - 1, end}) {
      pcs.push_back(pc);
      out.clear();
      p.frames(pc, out);
    }
  }
  (void)p.mentions_name("runtime.main");
  (void)p.function_index(0);
  (void)p.function_index(~0ull);
  pcs.push_back(0);
  pcs.push_back(~0ull);
  goscry::PclntabBatch batch;
  p.frames_batch(pcs, batch);
  return 0;
}
