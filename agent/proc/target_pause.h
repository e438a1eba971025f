// Stops a target with SIGSTOP for a consistent read and always lets it go again: SIGCONT
// from the destructor (errors, exceptions), and from handlers of the signals that end goscry
// (Ctrl-C, SIGTERM, SIGHUP, a crash of goscry itself), which resume the target before goscry
// dies. A target that was already stopped before (by a debugger, by its shell) is left as
// it was: goscry neither stops nor resumes it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "symbolizer/error.h"

namespace goscry {

class TargetPause {
 public:
  // Sends SIGSTOP and waits (polling /proc/PID/task/*/stat) until every thread is stopped,
  // at most `timeout`. Only one pause may be active at a time in a goscry process.
  static Result<std::unique_ptr<TargetPause>> stop(
      pid_t pid, std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~TargetPause();
  TargetPause(const TargetPause&) = delete;
  TargetPause& operator=(const TargetPause&) = delete;

  // Sends SIGCONT (once). Returns how long the target was stopped, in ns.
  std::int64_t resume();
  bool was_already_stopped() const { return already_stopped_; }

 private:
  TargetPause() = default;
  pid_t pid_ = 0;
  bool already_stopped_ = false;
  bool resumed_ = false;
  std::int64_t stopped_at_ = 0;
  std::int64_t paused_ns_ = 0;
};

// 'R', 'S', 'T', 'Z'... from /proc/PID/stat (or /proc/PID/task/TID/stat); 0 when unreadable.
char process_state(pid_t pid, pid_t tid = 0);

}  // namespace goscry
