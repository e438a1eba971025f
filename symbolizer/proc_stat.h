// /proc/PID/stat (proc(5)), the one parser of it in goscry: "pid (comm) state ppid ...".
// comm is the target's to choose (prctl(PR_SET_NAME)) and may hold spaces, parentheses and
// anything but NUL, so the fields are counted from its LAST ')'.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace goscry {

struct ProcStat {
  char state = 0;                 // field 3: 'R', 'S', 'D', 'T', 't', 'Z', 'X', ...
  std::uint64_t start_ticks = 0;  // field 22: clock ticks after boot; 0 when absent
  // A zombie or a dead task runs no code any more: for goscry it is gone.
  bool gone() const { return state == 'Z' || state == 'X'; }
};

// nullopt for text that is not a stat line (no ')', no state after it).
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// /proc/PID/stat, or /proc/PID/task/TID/stat for a thread; nullopt when there is no such
// process or thread (or it went while being read).
std::optional<ProcStat> read_proc_stat(pid_t pid, pid_t tid = 0);

// Whether `pid` runs: it exists and is not a zombie.
bool process_alive(pid_t pid);

}  // namespace goscry
