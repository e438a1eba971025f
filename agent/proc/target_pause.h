// Stops a target for a consistent read and always lets it go again. Every thread is held
// in a ptrace stop (agent/proc/thread_seize.h): released by the destructor (errors,
// exceptions), and by the kernel itself when goscry dies — Ctrl-C, a crash, SIGKILL — so a
// pause can never outlive goscry. A target that was already stopped before (by its shell,
// SIGSTOP) is left as it was: goscry neither stops nor resumes it. A target already traced
// (a debugger) is refused: a process has one tracer.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "agent/proc/thread_seize.h"
#include "symbolizer/error.h"

namespace goscry {

class TargetPause {
 public:
  // Seizes and interrupts every thread, and waits until each has stopped, at most
  // `timeout`.
  static Result<std::unique_ptr<TargetPause>> stop(
      pid_t pid, std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~TargetPause();
  TargetPause(const TargetPause&) = delete;
  TargetPause& operator=(const TargetPause&) = delete;

  // Lets every thread go (once). Returns how long the target was stopped, in ns.
  std::int64_t resume();
  bool was_already_stopped() const { return already_stopped_; }
  std::size_t threads() const { return threads_ ? threads_->size() : 0; }
  // Each stopped thread's registers: where the goroutines running at the stop were.
  std::vector<ThreadRegisters> registers() const {
    return threads_ ? threads_->registers() : std::vector<ThreadRegisters>{};
  }

 private:
  TargetPause() = default;
  bool already_stopped_ = false;
  bool resumed_ = false;
  std::int64_t stopped_at_ = 0;
  std::int64_t paused_ns_ = 0;
  std::optional<SeizedThreads> threads_;
};

// 'R', 'S', 'T', 't', 'Z'... from /proc/PID/stat (or /proc/PID/task/TID/stat); 0 when
// unreadable.
char process_state(pid_t pid, pid_t tid = 0);

}  // namespace goscry
