#include "agent/proc/target_pause.h"

#include "symbolizer/proc_file.h"

#include <time.h>

#include <atomic>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "symbolizer/proc_stat.h"

namespace goscry {

namespace {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

char state_of(pid_t pid, pid_t tid) {
  auto stat = read_proc_stat(pid, tid);
  return stat ? stat->state : 0;
}

}  // namespace

char process_state(pid_t pid, pid_t tid) {
  return state_of(pid, tid);
}

Result<std::unique_ptr<TargetPause>> TargetPause::stop(pid_t pid,
                                                       std::chrono::milliseconds timeout) {
  auto p = std::unique_ptr<TargetPause>(new TargetPause());
  const char before = process_state(pid);
  if (before == 0 || before == 'Z' || before == 'X') return std::unexpected(why_no_process(pid));
  if (before == 'T') {  // stopped by a signal (job control): not ours to resume
    p->already_stopped_ = true;
    p->resumed_ = true;
    return p;
  }
  p->stopped_at_ = now_ns();
  auto seized = SeizedThreads::seize(pid, timeout);
  if (!seized) {
    p->resumed_ = true;
    return std::unexpected(seized.error());
  }
  p->threads_.emplace(std::move(*seized));
  return p;
}

std::int64_t TargetPause::resume() {
  if (resumed_) return paused_ns_;
  resumed_ = true;
  if (threads_) threads_->release();
  paused_ns_ = now_ns() - stopped_at_;
  return paused_ns_;
}

TargetPause::~TargetPause() { resume(); }

}  // namespace goscry
