// Every thread of a process held in a ptrace stop: PTRACE_SEIZE, then PTRACE_INTERRUPT of
// each thread. Unlike SIGSTOP, such a stop cannot outlive goscry: when the tracer dies, by
// any signal, SIGKILL included, the kernel detaches its tracees and they run on.
//
// Threads the target creates while it is being seized are caught two ways: those made by
// an already seized thread are attached by the kernel (PTRACE_O_TRACECLONE) and reported
// through the clone event; those made by a thread not yet seized appear in the next
// listing of /proc/PID/task, which is repeated until it holds no thread not seized.
// Signals that arrive for a stopped thread are kept and handed back on release.
//
// All ptrace calls come from the thread that made the object (ptrace's rule); waits name
// each thread (never waitpid(-1), which would reap the caller's own children).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <vector>

#include "symbolizer/error.h"

namespace goscry {

// A stopped thread's registers that place the code it runs: pc, sp, frame pointer, and
// the register Go's ABIInternal keeps the current g in (R14 on amd64, R28 on arm64).
struct ThreadRegisters {
  pid_t tid = 0;
  std::uint64_t pc = 0, sp = 0, bp = 0, g = 0;
  std::uint64_t lr = 0;  // arm64's link register (0 on amd64, whose CALL pushes it)
};

class SeizedThreads {
 public:
  // Fails, detaching whatever it attached, when a thread cannot be seized (a target
  // already traced: "pid P is already traced by pid T"; Yama's ptrace_scope; no
  // permission) or not every thread stopped within `timeout`.
  static Result<SeizedThreads> seize(pid_t pid, std::chrono::milliseconds timeout);
  SeizedThreads(SeizedThreads&& o) noexcept : pid_(o.pid_), threads_(std::move(o.threads_)) {
    o.threads_.clear();
  }
  SeizedThreads& operator=(SeizedThreads&&) = delete;
  SeizedThreads(const SeizedThreads&) = delete;
  ~SeizedThreads() { release(); }

  // Detaches every thread (they run on), handing back signals that arrived meanwhile.
  void release();
  std::size_t size() const { return threads_.size(); }
  // The registers of every stopped thread (a thread whose registers cannot be read is
  // left out).
  std::vector<ThreadRegisters> registers() const;

 private:
  explicit SeizedThreads(pid_t pid) : pid_(pid) {}
  struct Thread {
    bool stopped = false;
    int pending_signal = 0;  // a signal-delivery stop: injected again on detach
  };
  Result<void> seize_listed();
  // Collects the stops reported so far; true when every seized thread is stopped.
  bool collect_stops();

  pid_t pid_;
  std::map<pid_t, Thread> threads_;
};

// Why `pid` cannot be traced, in one sentence, or empty: another tracer, or Yama's
// ptrace_scope 3 (no attaching at all).
std::string ptrace_refusal(pid_t pid);

}  // namespace goscry
