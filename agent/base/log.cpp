#include "agent/base/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "exporters/json_report.h"

namespace goscry::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};
std::mutex g_write_mu;

// RFC 3339 in UTC with milliseconds, the timestamp Prometheus' own logs use.
std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  std::time_t secs = ms.count() / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count() % 1000));
  return buf;
}

// logfmt: bare when the value is a plain word, else quoted with \" \\ \n escaped. Values
// come from targets (paths), so control characters are escaped too.
void append_logfmt_value(std::string& out, std::string_view v) {
  bool plain = !v.empty();
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) plain = false;
  if (plain) {
    out += v;
    return;
  }
  out += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < ' ' || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  out += '"';
}

}  // namespace

Result<Level> parse_level(std::string_view s) {
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warn") return Level::kWarn;
  if (s == "error") return Level::kError;
  return fail(ErrorKind::BadInput,
              "unknown log level \"" + std::string(s) + "\" (debug, info, warn or error)");
}

Result<Format> parse_format(std::string_view s) {
  if (s == "text") return Format::kText;
  if (s == "json") return Format::kJson;
  return fail(ErrorKind::BadInput, "unknown log format \"" + std::string(s) + "\" (text or json)");
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void set_level(Level l) { g_level.store(l); }
void set_format(Format f) { g_format.store(f); }
Level level() { return g_level.load(); }
bool enabled(Level l) { return l >= g_level.load(); }

std::string format_line(Format f, Level l, std::string_view msg, Fields fields) {
  if (f == Format::kJson) {
    nlohmann::ordered_json j;
    j["ts"] = now_rfc3339();
    j["level"] = level_name(l);
    j["msg"] = std::string(msg);
    for (const auto& [k, v] : fields) j[std::string(k)] = v;
    return json_report::to_line(j);  // never throws on non-UTF-8 values
  }
  std::string out = "ts=" + now_rfc3339() + " level=" + std::string(level_name(l)) + " msg=";
  append_logfmt_value(out, msg);
  for (const auto& [k, v] : fields) {
    out += ' ';
    out += k;
    out += '=';
    append_logfmt_value(out, v);
  }
  return out;
}

void write(Level l, std::string_view msg, Fields fields) {
  if (!enabled(l)) return;
  std::string line = format_line(g_format.load(), l, msg, fields);
  line += '\n';
  std::lock_guard lock(g_write_mu);
  // One write(2) per line: lines stay whole even when another process shares stderr.
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::write(2, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += size_t(n);
  }
}

}  // namespace goscry::log
