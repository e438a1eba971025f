// Kallsyms::parse on arbitrary text, then lookups around every symbol.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "symbolizer/kallsyms.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto table = goscry::Kallsyms::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!table) return 0;
  for (std::uint64_t a : {0ull, 1ull, 0xffffffff81000000ull, ~0ull}) (void)table->lookup(a);
  (void)table->address_of("_text");
  return 0;
}
