// The common shape of goscry's JSON reports (docs/json-schemas.md): every report is one
// JSON object that starts with {"report": "<kind>", "version": <n>, ...}. A verb fills in
// its own fields; this file only makes the envelope and writes objects out.
//
// Strings in reports come from targets (function names, file names, goroutine labels)
// and need not be UTF-8; nlohmann::json throws on them when dumping. Here every
// ill-formed byte becomes U+FFFD instead, so a report can always be written.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>

namespace goscry::json_report {

// {"report": kind, "version": version}: add the report's own fields to it. Ordered, so
// the envelope comes first and fields keep the order the verb gives them.
nlohmann::ordered_json envelope(std::string_view kind, int version);

// One line, no trailing newline.
std::string to_line(const nlohmann::ordered_json& report);
// Indented by 2, for files meant to be read by people.
std::string to_pretty(const nlohmann::ordered_json& report);

class Writer {
 public:
  enum class Style {
    kLines,   // JSON Lines: one compact object per line (streams, pipes, `jq -c`)
    kPretty,  // indented objects, each followed by a newline (files)
  };
  Writer(std::ostream& out, Style style) : out_(out), style_(style) {}
  // Writes one report and flushes, so a reader of a pipe sees it at once.
  void write(const nlohmann::ordered_json& report);

 private:
  std::ostream& out_;
  Style style_;
};

}  // namespace goscry::json_report
