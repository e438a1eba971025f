#include "agent/target_pause.h"

#include <time.h>

#include <fstream>
#include <string>

namespace goscry {

namespace {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

char state_of(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line)) return 0;
  // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return 0;
  return line[close + 2];
}

}  // namespace

char process_state(pid_t pid, pid_t tid) {
  return state_of("/proc/" + std::to_string(pid) +
                  (tid ? "/task/" + std::to_string(tid) : std::string()) + "/stat");
}

Result<std::unique_ptr<TargetPause>> TargetPause::stop(pid_t pid,
                                                       std::chrono::milliseconds timeout) {
  auto p = std::unique_ptr<TargetPause>(new TargetPause());
  const char before = process_state(pid);
  if (before == 0) return fail("no process with pid " + std::to_string(pid));
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
