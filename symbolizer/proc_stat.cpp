#include "symbolizer/proc_stat.h"

#include <charconv>
#include <string>

#include "symbolizer/proc_file.h"

namespace goscry {

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  const std::string_view state = next_field(&rest, " \n");  // field 3
  if (state.size() != 1) return std::nullopt;
  ProcStat s;
  s.state = state[0];
  std::string_view field;
  for (int i = 4; i <= 22; ++i) field = next_field(&rest);
  // Field 22; a kernel that wrote fewer fields leaves start_ticks 0.
  std::uint64_t ticks = 0;
  if (!field.empty() &&
      std::from_chars(field.data(), field.data() + field.size(), ticks).ec == std::errc())
    s.start_ticks = ticks;
  return s;
}

std::optional<ProcStat> read_proc_stat(pid_t pid, pid_t tid) {
  if (pid <= 0 || tid < 0) return std::nullopt;
  std::string path = "/proc/" + std::to_string(pid);
  if (tid) path += "/task/" + std::to_string(tid);
  // Not an ifstream: a process that dies between open and read fails the read with ESRCH,
  // which libstdc++'s filebuf throws from underflow() (it aborted the agent under churn).
  auto text = read_proc_file(path + "/stat", 4096);
  if (!text) return std::nullopt;
  return parse_proc_stat(*text);
}

bool process_alive(pid_t pid) {
  auto s = read_proc_stat(pid);
  return s && !s->gone();
}

}  // namespace goscry
