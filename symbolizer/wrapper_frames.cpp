#include "symbolizer/wrapper_frames.h"

#include <algorithm>

#include "symbolizer/pclntab.h"

namespace goscry {

WrapperFuncIds read_wrapper_func_ids(const Pclntab& t) {
  WrapperFuncIds w;
  auto id_of = [&](const char* name) -> int {
    auto i = t.find(name);
    return i ? t.func_id(*i) : -1;
  };
  const int gopanic = id_of("runtime.gopanic"), sigpanic = id_of("runtime.sigpanic");
  if (gopanic <= 0 || sigpanic <= 0) return w;  // no funcIDs (before Go 1.12) or no runtime
  std::uint8_t max = 0;
  for (std::size_t i = 0; i < t.num_functions(); ++i) max = std::max(max, t.func_id(i));
  // The wrapper entry follows sigpanic (and, from 1.19, systemstack and
  // systemstack_switch) in every release's enum.
  if (max <= sigpanic || max <= gopanic) return w;
  w.known = true;
  w.wrapper = max;
  w.gopanic = std::uint8_t(gopanic);
  w.sigpanic = std::uint8_t(sigpanic);
  w.panicwrap = std::uint8_t(std::max(0, id_of("runtime.panicwrap")));
  return w;
}

}  // namespace goscry
