#include "agent/base/duration.h"

#include <cstdio>
#include <cstdlib>

namespace goscry {

Result<std::uint64_t> parse_duration(std::string_view text) {
  const std::string s(text);
  auto bad = [&] { return fail("bad duration \"" + s + "\" (use 500ms, 1s, 2m, ...)"); };
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v < 0) return bad();
  const std::string unit(end);
  double scale = 0;
  if (unit == "ns") scale = 1;
  else if (unit == "us" || unit == "µs") scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else if (unit == "m") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else return bad();
  const double ns = v * scale;
  if (ns > 1e18) return bad();
  return static_cast<std::uint64_t>(ns);
}

std::string format_duration(std::uint64_t ns) {
  char buf[32];
  if (ns < 1000) std::snprintf(buf, sizeof buf, "%lluns", (unsigned long long)ns);
  else if (ns < 1000000) std::snprintf(buf, sizeof buf, "%.1fus", double(ns) / 1e3);
  else if (ns < 1000000000) std::snprintf(buf, sizeof buf, "%.2fms", double(ns) / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2fs", double(ns) / 1e9);
  return buf;
}

}  // namespace goscry
