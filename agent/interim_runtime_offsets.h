// TEMPORARY: runtime.g / runtime.m offsets per Go release, copied from GO_RUNTIME.md's
// table so that the probes can be tested before the real source exists. Replaced by
// runtime_layout(const ElfFile&, go_version) (branch `layout`: DWARF, else a generated and
// verified table) when merged; do not grow this file.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "symbolizer/error.h"

namespace goscry {

struct InterimRuntimeOffsets {
  std::uint16_t g_goid = 0;
  std::uint16_t g_gopc = 0;
  std::uint16_t g_startpc = 0;
  std::optional<std::uint16_t> g_parent_goid;  // Go 1.21+
  std::uint16_t g_m = 0;
  std::uint16_t m_curg = 0;
  std::uint16_t m_preemptoff = 0;
  // runtime.workType (<= 1.21 only: the GC pause clock), from DWARF of go1.19.8, 1.20.14,
  // 1.21.13 fixtures.
  std::optional<std::uint16_t> work_pause_start;
  std::optional<std::uint16_t> work_t_end;
};

// The minor version of "go1.26.8", "go1.22rc1", "go1.26.10-X:goroutineleakprofile".
Result<int> go_minor_version(std::string_view go_version);

Result<InterimRuntimeOffsets> interim_runtime_offsets(std::string_view go_version);

}  // namespace goscry
