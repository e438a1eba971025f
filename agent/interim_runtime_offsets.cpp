#include "agent/interim_runtime_offsets.h"

#include <string>

namespace goscry {

Result<int> go_minor_version(std::string_view v) {
  if (!v.starts_with("go1.")) return fail("\"" + std::string(v) + "\": not a Go version");
  int minor = 0, digits = 0;
  for (std::size_t i = 4; i < v.size() && v[i] >= '0' && v[i] <= '9' && digits < 4; ++i, ++digits)
    minor = minor * 10 + (v[i] - '0');
  if (digits == 0) return fail("\"" + std::string(v) + "\": not a Go version");
  return minor;
}

Result<InterimRuntimeOffsets> interim_runtime_offsets(std::string_view go_version) {
  auto minor = go_minor_version(go_version);
  if (!minor) return std::unexpected(minor.error());
  const int m = *minor;
  if (m < 19 || m > 27)
    return fail(std::string(go_version) + ": unsupported Go version (goscry knows 1.19-1.27)");
  InterimRuntimeOffsets o;
  o.g_m = 48;
  // GO_RUNTIME.md "runtime.g offsets" / "runtime.m".
  if (m <= 20) {
    o.g_goid = 152, o.g_gopc = 296, o.g_startpc = 312;
  } else if (m <= 22 || m == 25) {
    o.g_goid = 152, o.g_gopc = 280, o.g_startpc = 296, o.g_parent_goid = 272;
  } else if (m <= 24) {
    o.g_goid = 160, o.g_gopc = 288, o.g_startpc = 304, o.g_parent_goid = 280;
  } else {
    o.g_goid = 152, o.g_gopc = 288, o.g_startpc = 304, o.g_parent_goid = 280;
  }
  o.m_curg = m >= 25 ? 184 : 192;
  o.m_preemptoff = m == 25 ? 240 : 248;
  if (m == 19) o.work_t_end = 384, o.work_pause_start = 400;
  if (m == 20) o.work_t_end = 376, o.work_pause_start = 392;
  if (m == 21) o.work_t_end = 440, o.work_pause_start = 456;
  return o;
}

}  // namespace goscry
