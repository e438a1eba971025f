#include "agent/proc/target_pause.h"

#include "symbolizer/proc_file.h"

#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "symbolizer/proc_stat.h"

namespace goscry {

namespace {

// The pid to resume from a signal handler; 0 when nothing is paused.
std::atomic<pid_t> g_paused_pid{0};

constexpr int kFatalSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE,
                                 SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
struct sigaction g_previous[sizeof kFatalSignals / sizeof kFatalSignals[0]];

// Async-signal-safe: resume the target, restore the default action and re-raise, so goscry
// still dies of the signal (exit status 128+N) but never leaves the target stopped.
void resume_and_reraise(int sig) {
  const pid_t pid = g_paused_pid.exchange(0);
  if (pid > 0) kill(pid, SIGCONT);
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_handlers() {
  for (std::size_t i = 0; i < std::size(kFatalSignals); ++i) {
    struct sigaction sa{};
    sa.sa_handler = resume_and_reraise;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(kFatalSignals[i], &sa, &g_previous[i]);
  }
}

void restore_handlers() {
  for (std::size_t i = 0; i < std::size(kFatalSignals); ++i)
    sigaction(kFatalSignals[i], &g_previous[i], nullptr);
}

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

char state_of(pid_t pid, pid_t tid) {
  auto stat = read_proc_stat(pid, tid);
  return stat ? stat->state : 0;
}

// True when every thread is stopped ('T' or 't') or gone.
bool all_threads_stopped(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return true;  // the process is gone: nothing runs
  bool all = true;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const char s = state_of(pid, std::atoi(e->d_name));
    if (s != 0 && s != 'T' && s != 't' && s != 'Z' && s != 'X') {
      all = false;
      break;
    }
  }
  closedir(d);
  return all;
}

}  // namespace

char process_state(pid_t pid, pid_t tid) {
  return state_of(pid, tid);
}

Result<std::unique_ptr<TargetPause>> TargetPause::stop(pid_t pid, std::chrono::milliseconds timeout) {
  auto p = std::unique_ptr<TargetPause>(new TargetPause());
  p->pid_ = pid;
  const char before = process_state(pid);
  if (before == 0 || before == 'Z' || before == 'X') return fail(why_no_process(pid));
  if (before == 'T' || before == 't') {
    p->already_stopped_ = true;
    p->resumed_ = true;
    return p;
  }
  pid_t expected = 0;
  if (!g_paused_pid.compare_exchange_strong(expected, pid))
    return fail("pid " + std::to_string(pid) + ": another target is already paused");
  install_handlers();
  p->stopped_at_ = now_ns();
  if (kill(pid, SIGSTOP) != 0) {
    const int err = errno;
    g_paused_pid = 0;
    restore_handlers();
    p->resumed_ = true;
    return fail("cannot stop pid " + std::to_string(pid) + ": " + std::strerror(err));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!all_threads_stopped(pid)) {
    if (std::chrono::steady_clock::now() > deadline)
      return fail("pid " + std::to_string(pid) + ": threads did not stop within " +
                  std::to_string(timeout.count()) + " ms");  // ~TargetPause resumes it
    std::this_thread::yield();  // poll: stopping takes tens of microseconds per thread
  }
  return p;
}

std::int64_t TargetPause::resume() {
  if (resumed_) return paused_ns_;
  resumed_ = true;
  kill(pid_, SIGCONT);
  paused_ns_ = now_ns() - stopped_at_;
  g_paused_pid = 0;
  restore_handlers();
  return paused_ns_;
}

TargetPause::~TargetPause() { resume(); }

}  // namespace goscry
