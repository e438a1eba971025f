#include "agent/goruntime/pprof_mapping.h"

namespace goscry {

pprof::Mapping go_text_mapping(const GoProcess& t) {
  pprof::Mapping m;
  m.filename = t.process().exe_path();
  m.build_id = t.binary().elf().go_build_id().value_or("");
  m.memory_start = t.binary().text_start() + t.bias();
  m.memory_limit = ~std::uint64_t(0);
  m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = true;
  return m;
}

}  // namespace goscry
