#include "exporters/prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>

namespace goscry::prometheus {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at s[i], or 0 if it is ill-formed
// (Unicode 15, table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, unsigned lo, unsigned hi) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  unsigned b0 = byte(i);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(i + 1, 0x80, 0xBF) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    return cont(i + 1, lo, hi) && cont(i + 2, 0x80, 0xBF) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return cont(i + 1, lo, hi) && cont(i + 2, 0x80, 0xBF) && cont(i + 3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::vector<std::string_view> name_tokens(std::string_view name) {
  std::vector<std::string_view> tokens;
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '_' || name[i] == ':') {
      if (i > start) tokens.push_back(name.substr(start, i - start));
      start = i + 1;
    }
  }
  return tokens;
}

// Units promtool wants replaced by a base unit (seconds, bytes) and the abbreviations it
// rejects outright.
const std::set<std::string_view>& non_base_units() {
  static const std::set<std::string_view> units = {
      "nanoseconds", "microseconds", "milliseconds", "minutes",   "hours",     "days",
      "weeks",       "kilobytes",    "megabytes",    "gigabytes", "terabytes", "kibibytes",
      "mebibytes",   "gibibytes",    "bits",         "ms",        "us",        "ns",
      "sec",         "secs",         "min",          "mins",      "hr",        "hrs",
      "kb",          "mb",           "gb",           "kib",       "mib",       "gib"};
  return units;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  if (is_ascii(s)) return true;
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  bool replaced_last = false;
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      // A run of bad bytes becomes one U+FFFD, like strings.ToValidUTF8.
      if (!replaced_last) out += kReplacement;
      replaced_last = true;
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    replaced_last = false;
    i += n;
  }
  return out;
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_escaped_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[400];  // the fixed form of any integral double below 1e21 fits easily
  std::to_chars_result r;
  if (v == 0) {
    out += '0';  // also for -0, which Prometheus would store as 0 anyway
    return;
  }
  if (std::trunc(v) == v && std::fabs(v) < 9.2e18) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
  } else if (std::trunc(v) == v && std::fabs(v) < 1e21) {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 0);
  } else {
    // Go's strconv.FormatFloat(v, 'g', -1, 64), which client_golang uses (so our `le`
    // labels read like everyone else's): the shortest digits that round-trip, in
    // exponent form when the decimal exponent is < -4 or >= 6 ("1e-05", "0.0001").
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    const char* e = std::find(buf, r.ptr, 'e');
    int exponent = 0;
    std::from_chars(e + 1 + (e[1] == '+'), r.ptr, exponent);
    if (exponent >= -4 && exponent < 6)
      r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  }
  out.append(buf, r.ptr);
}

std::string format_value(double v) {
  std::string s;
  append_value(s, v);
  return s;
}

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string_view type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

std::vector<std::string> naming_problems(std::string_view name, MetricType type,
                                         const std::vector<std::string>& label_names) {
  std::vector<std::string> problems;
  std::string n(name);
  if (!is_valid_metric_name(name)) problems.push_back(n + ": not a valid metric name");
  for (char c : name)
    if (c >= 'A' && c <= 'Z') {
      problems.push_back(n + ": metric names are snake_case");
      break;
    }
  bool total = ends_with(name, "_total");
  if (type == MetricType::kCounter && !total) problems.push_back(n + ": a counter ends in _total");
  if (type != MetricType::kCounter && total)
    problems.push_back(n + ": only counters end in _total");
  for (std::string_view reserved : {"_count", "_sum", "_bucket"})
    if (ends_with(name, reserved))
      problems.push_back(n + ": the suffix " + std::string(reserved) +
                         " is reserved for histograms");
  for (std::string_view token : name_tokens(name))
    if (non_base_units().contains(token))
      problems.push_back(n + ": use a base unit (_seconds, _bytes) instead of " +
                         std::string(token));
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    if (!is_valid_label_name(label)) problems.push_back(n + ": bad label name '" + label + "'");
    for (char c : label)
      if (c >= 'A' && c <= 'Z') {
        problems.push_back(n + ": label names are snake_case ('" + label + "')");
        break;
      }
    if (label == "le" || label == "quantile")
      problems.push_back(n + ": label '" + label + "' is reserved");
    if (!seen.insert(label).second) problems.push_back(n + ": label '" + label + "' twice");
  }
  return problems;
}

}  // namespace goscry::prometheus
