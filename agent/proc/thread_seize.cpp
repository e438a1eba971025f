#include "agent/proc/thread_seize.h"

#include <dirent.h>
#include <signal.h>
#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "symbolizer/proc_file.h"

namespace goscry {

namespace {

std::vector<pid_t> list_threads(pid_t pid) {
  std::vector<pid_t> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(pid_t(std::atol(e->d_name)));
  closedir(d);
  return out;
}

// The TracerPid line of /proc/PID/status; 0 when none or unreadable.
pid_t tracer_of(pid_t pid) {
  auto text = read_proc_file("/proc/" + std::to_string(pid) + "/status", 64 << 10);
  if (!text) return 0;
  const auto at = text->find("\nTracerPid:");
  return at == std::string::npos ? 0 : pid_t(std::atol(text->c_str() + at + 11));
}

// Yama's ptrace_scope; 0 (classic ptrace rules) when Yama is not built in.
int yama_scope() {
  auto text = read_proc_file("/proc/sys/kernel/yama/ptrace_scope", 64);
  return text ? std::atoi(text->c_str()) : 0;
}

}  // namespace

std::string ptrace_refusal(pid_t pid) {
  if (const pid_t t = tracer_of(pid); t != 0)
    return "pid " + std::to_string(pid) + " is already traced by pid " + std::to_string(t) +
           " (a debugger?), and a process has only one tracer";
  if (yama_scope() >= 3)
    return "ptrace is disabled on this host (kernel.yama.ptrace_scope = 3), so goscry cannot "
           "pause pid " + std::to_string(pid);
  return "";
}

Result<void> SeizedThreads::seize_listed() {
  // Until a listing finds no thread that is not seized yet.
  for (bool fresh = true; fresh;) {
    fresh = false;
    for (pid_t tid : list_threads(pid_)) {
      if (threads_.count(tid)) continue;
      if (ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACECLONE)) != 0) {
        const int err = errno;
        if (err == ESRCH) continue;  // the thread exited meanwhile
        if (auto why = ptrace_refusal(pid_); !why.empty()) return fail(ErrorKind::Permission, why);
        std::string msg = "cannot pause pid " + std::to_string(pid_) +
                          ": ptrace(SEIZE) of thread " + std::to_string(tid) + ": " +
                          std::strerror(err);
        if (err == EPERM && yama_scope() > 0)
          msg += " (kernel.yama.ptrace_scope = " + std::to_string(yama_scope()) +
                 ": goscry needs CAP_SYS_PTRACE)";
        return std::unexpected(Error{kind_of_errno(err), msg, err});
      }
      threads_[tid] = {};
      fresh = true;
      if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 && errno != ESRCH)
        return fail_errno(errno, "cannot pause thread " + std::to_string(tid) + " of pid " +
                                     std::to_string(pid_) + ": ptrace(INTERRUPT)");
    }
  }
  return {};
}

bool SeizedThreads::collect_stops() {
  bool all = true;
  // New threads may join the map while it is walked: walk a copy of the keys.
  std::vector<pid_t> tids;
  for (const auto& [tid, t] : threads_)
    if (!t.stopped) tids.push_back(tid);
  for (pid_t tid : tids) {
    int status = 0;
    const pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
    auto& t = threads_[tid];
    if (r < 0) {  // gone (ECHILD: exited and reaped by its own process)
      t.stopped = true;
      continue;
    }
    if (r == 0) {
      all = false;
      continue;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      threads_.erase(tid);
      continue;
    }
    if (!WIFSTOPPED(status)) {
      all = false;
      continue;
    }
    const int sig = WSTOPSIG(status);
    const int event = status >> 16;
    if (event == PTRACE_EVENT_CLONE) {
      // Attached by the kernel, it reports a stop of its own; this thread resumes so that
      // the PTRACE_INTERRUPT sent to it ends in a stop of the usual kind.
      unsigned long child = 0;
      if (ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child) == 0 && child)
        threads_.try_emplace(pid_t(child));
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      all = false;
      continue;
    }
    if (event == 0 && sig != SIGTRAP && sig != SIGSTOP) {
      // A signal-delivery stop (SIGURG, SIGPROF...): kept for the release; the thread goes
      // on to the interrupt's stop.
      t.pending_signal = sig;
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      all = false;
      continue;
    }
    t.stopped = true;  // PTRACE_EVENT_STOP: the interrupt (or a new thread's first stop)
  }
  return all;
}

Result<SeizedThreads> SeizedThreads::seize(pid_t pid, std::chrono::milliseconds timeout) {
  SeizedThreads s(pid);
  if (auto why = ptrace_refusal(pid); !why.empty()) return fail(ErrorKind::Permission, why);
  if (auto r = s.seize_listed(); !r) return std::unexpected(r.error());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!s.collect_stops()) {
    if (std::chrono::steady_clock::now() > deadline)
      return fail(ErrorKind::Io, "pid " + std::to_string(pid) + ": threads did not stop within " +
                                     std::to_string(timeout.count()) +
                                     " ms");  // ~SeizedThreads detaches
    std::this_thread::yield();  // poll: a thread stops within microseconds of the interrupt
  }
  // A thread made by one not yet seized when the first listing ran: seize it too.
  for (std::size_t before = 0; before != s.threads_.size();) {
    before = s.threads_.size();
    if (auto r = s.seize_listed(); !r) return std::unexpected(r.error());
    while (!s.collect_stops()) {
      if (std::chrono::steady_clock::now() > deadline)
        return fail(ErrorKind::Io, "pid " + std::to_string(pid) + ": threads did not stop within " +
                                       std::to_string(timeout.count()) + " ms");
      std::this_thread::yield();
    }
  }
  return s;
}

void SeizedThreads::release() {
  for (auto& [tid, t] : threads_) {
    if (ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(long(t.pending_signal))) ==
            0 ||
        errno != ESRCH)
      continue;
    // Not in a ptrace stop yet (a failed seize): PTRACE_DETACH needs one. A thread stops
    // within microseconds of the interrupt, or has exited; a bounded wait either way.
    ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      const pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
      if (r < 0 || (r > 0 && !WIFSTOPPED(status))) break;  // gone
      if (r > 0) {
        const int sig = (status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP ? WSTOPSIG(status) : 0;
        if (ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(long(sig))) == 0) break;
      }
      std::this_thread::yield();
    }
  }
  threads_.clear();
}

std::vector<ThreadRegisters> SeizedThreads::registers() const {
  std::vector<ThreadRegisters> out;
  for (const auto& [tid, t] : threads_) {
    if (!t.stopped) continue;
    user_regs_struct r{};
    iovec io{&r, sizeof r};
    if (ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &io) != 0) continue;
#if defined(__x86_64__)
    out.push_back({tid, r.rip, r.rsp, r.rbp, r.r14, 0});
#elif defined(__aarch64__)
    out.push_back({tid, r.pc, r.sp, r.regs[29], r.regs[28], r.regs[30]});
#endif
  }
  return out;
}

}  // namespace goscry
