// parse_proc_stat on arbitrary text (a comm is the target's to choose).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "symbolizer/proc_stat.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)goscry::parse_proc_stat(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
