#include "agent/base/duration.h"

#include <cstdio>
#include <optional>

namespace goscry {

namespace {

constexpr std::uint64_t kMaxNs = std::uint64_t(1) << 63;  // Go's bound before the sign

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The nanoseconds of one unit, as time.ParseDuration's unitMap.
std::optional<std::uint64_t> unit_ns(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\u00b5s" || u == "\u03bcs") return 1000;  // micro sign, Greek mu
  if (u == "ms") return 1000000;
  if (u == "s") return 1000000000;
  if (u == "m") return 60000000000;
  if (u == "h") return 3600000000000;
  return std::nullopt;
}

// Reads the digits at the start of `s` into `v`; false on overflow of Go's int64.
bool leading_int(std::string_view& s, std::uint64_t& v) {
  std::size_t i = 0;
  v = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (v > (kMaxNs - 1) / 10) return false;
    v = v * 10 + std::uint64_t(s[i] - '0');
    if (v > kMaxNs) return false;
  }
  s.remove_prefix(i);
  return true;
}

// The digits after the point: their value and 10^(digits kept); digits beyond what a
// uint64 holds are read and dropped, as Go does.
void leading_fraction(std::string_view& s, std::uint64_t& f, double& scale) {
  std::size_t i = 0;
  bool overflow = false;
  f = 0;
  scale = 1;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (overflow) continue;
    if (f > (kMaxNs - 1) / 10) {
      overflow = true;
      continue;
    }
    const std::uint64_t y = f * 10 + std::uint64_t(s[i] - '0');
    if (y > kMaxNs) {
      overflow = true;
      continue;
    }
    f = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

}  // namespace

Result<std::chrono::nanoseconds> parse_go_duration(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::BadInput,
                "bad duration " + quoted + ": " + why + " (Go's syntax: 500ms, 30s, 1.5m, 2h45m)");
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return bad("empty");
  std::uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) return bad("a number must come first");
    const std::size_t before = s.size();
    std::uint64_t v = 0;
    if (!leading_int(s, v)) return bad("too long");
    const bool pre = s.size() != before;
    std::uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      const std::size_t at = s.size();
      leading_fraction(s, f, scale);
      post = s.size() != at;
    }
    if (!pre && !post) return bad("a number must come first");
    std::size_t i = 0;
    while (i < s.size() && s[i] != '.' && !is_digit(s[i])) ++i;
    if (i == 0) return bad("missing unit");
    const std::string_view u = s.substr(0, i);
    s.remove_prefix(i);
    auto unit = unit_ns(u);
    if (!unit) return bad("unknown unit \"" + std::string(u) + "\"");
    if (v > kMaxNs / *unit) return bad("too long");
    v *= *unit;
    if (f > 0) {
      v += std::uint64_t(double(f) * (double(*unit) / scale));
      if (v > kMaxNs) return bad("too long");
    }
    total += v;
    if (total > kMaxNs) return bad("too long");
  }
  if (negative && total > 0)
    return std::chrono::nanoseconds(-static_cast<std::int64_t>(total - 1) - 1);
  if (total > kMaxNs - 1) return bad("too long");
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

Result<std::chrono::nanoseconds> parse_window(std::string_view what, std::string_view text) {
  auto d = parse_go_duration(text);
  if (!d) return context(d.error(), std::string(what));
  if (*d < kMinWindow)
    return fail(ErrorKind::BadInput,
                std::string(what) + ": must be at least 10ms, not " + std::string(text));
  return *d;
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
