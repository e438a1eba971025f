// Structured logs of the agent: one line per event on stderr, either logfmt-style text
//   ts=2026-11-28T08:00:00.123Z level=info msg="target added" pid=4242 exe=/usr/bin/app
// or JSON lines ({"ts":...,"level":"info","msg":"target added","pid":"4242",...}) with
// --log-format json. Level and format may change at run time (SIGHUP reload), from any
// thread; lines from concurrent threads never interleave.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "symbolizer/error.h"

namespace goscry::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

Result<Level> parse_level(std::string_view s);    // debug|info|warn|error
Result<Format> parse_format(std::string_view s);  // text|json
std::string_view level_name(Level l);

void set_level(Level l);
void set_format(Format f);
Level level();
bool enabled(Level l);

using Field = std::pair<std::string_view, std::string>;
using Fields = std::initializer_list<Field>;

// Formats one line (no trailing newline). Exposed for tests of the escaping.
std::string format_line(Format f, Level l, std::string_view msg, Fields fields);

void write(Level l, std::string_view msg, Fields fields = {});
inline void debug(std::string_view msg, Fields f = {}) { write(Level::kDebug, msg, f); }
inline void info(std::string_view msg, Fields f = {}) { write(Level::kInfo, msg, f); }
inline void warn(std::string_view msg, Fields f = {}) { write(Level::kWarn, msg, f); }
inline void error(std::string_view msg, Fields f = {}) { write(Level::kError, msg, f); }

}  // namespace goscry::log
