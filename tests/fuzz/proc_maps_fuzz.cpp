// ProcMaps::parse on arbitrary text, then lookups at every mapping's edges.
#include <cstddef>
#include <cstdint>
#include <string>

#include "symbolizer/proc_maps.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto maps = goscry::ProcMaps::parse(std::string(reinterpret_cast<const char*>(data), size), 1);
  if (!maps) return 0;
  for (const auto& m : maps->mappings()) {
    (void)maps->find(m.start);
    (void)maps->find(m.end - 1);
    (void)maps->module_address(m.start);
    (void)maps->host_path(m);
  }
  return 0;
}
