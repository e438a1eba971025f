#include "tests/support/go_traceback.h"

#include "tests/support/fixtures.h"

namespace goscry::testing {

std::string traceback_function(const std::string& line) {
  if (line.empty() || line.back() != ')') return line;
  int depth = 0;
  for (std::size_t i = line.size(); i-- > 0;) {
    if (line[i] == ')') ++depth;
    if (line[i] == '(' && --depth == 0) return line.substr(0, i);
  }
  return line;
}

std::map<std::uint64_t, TracebackGoroutine> parse_traceback(const std::string& text) {
  std::map<std::uint64_t, TracebackGoroutine> out;
  TracebackGoroutine* cur = nullptr;
  bool in_created_by = false;
  for (const auto& line : split_lines(text)) {
    if (line.starts_with("goroutine ")) {
      auto open = line.find('['), close = line.rfind(']');
      std::uint64_t id = std::stoull(line.substr(10));
      cur = &out[id];
      cur->header = line;
      cur->state = line.substr(open + 1, close - open - 1);
      cur->locked = cur->state.find(", locked to thread") != std::string::npos;
      if (auto comma = cur->state.find(", "); comma != std::string::npos)
        cur->state.resize(comma);
      in_created_by = false;
    } else if (!cur || line.empty()) {
      continue;
    } else if (line[0] == '\t') {
      if (in_created_by)
        cur->created_at = line.substr(1);
      else if (!cur->frames.empty())
        cur->frames.back() += line, cur->printed.back() += line;
    } else if (line.starts_with("created by ")) {
      cur->created_by = line.substr(11);
      in_created_by = true;
    } else if (!line.starts_with("...")) {
      cur->functions.push_back(traceback_function(line));
      cur->frames.push_back(cur->functions.back());
      cur->printed.push_back(line);
    }
  }
  return out;
}

std::string oracle_traceback(const std::string& output) {
  auto b = output.find("begin traceback\n"), e = output.find("end traceback\n");
  if (b == std::string::npos || e == std::string::npos) return "";
  return output.substr(b + 16, e - b - 16);
}

}  // namespace goscry::testing
