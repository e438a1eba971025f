#include "tests/support/live_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tests/support/fixtures.h"

namespace goscry::testing {
namespace {

using Clock = std::chrono::steady_clock;

int ms_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

Result<std::unique_ptr<LiveProcess>> LiveProcess::start(const std::vector<std::string>& argv,
                                                        const std::string& ready_line,
                                                        std::chrono::milliseconds timeout) {
  if (argv.empty()) return fail(ErrorKind::Io, "LiveProcess: empty command");
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return fail_errno(errno, "pipe");
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return fail_errno(errno, "pipe");
  }
  // The child dies with the test binary, whatever happens to it.
  const pid_t pid = start_program(argv, in_pipe[0], out_pipe[1], out_pipe[1], {}, true);
  if (pid < 0) return fail_errno(errno, "fork");
  close(in_pipe[0]);
  close(out_pipe[1]);
  std::unique_ptr<LiveProcess> p(new LiveProcess());
  p->pid_ = pid;
  p->stdin_fd_ = in_pipe[1];
  p->stdout_fd_ = out_pipe[0];
  if (auto r = p->wait_for_line(ready_line, timeout); !r) return context(r.error(), argv[0]);
  return p;
}

LiveProcess::~LiveProcess() {
  kill();
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

bool LiveProcess::read_some(Clock::time_point deadline) {
  if (stdout_fd_ < 0) return false;
  pollfd pfd{stdout_fd_, POLLIN, 0};
  int rc = poll(&pfd, 1, ms_until(deadline));
  if (rc < 0 && errno == EINTR) return true;
  if (rc <= 0) return false;
  char buf[4096];
  ssize_t n = read(stdout_fd_, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return true;
  if (n <= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
    return false;
  }
  output_.append(buf, static_cast<std::size_t>(n));
  return true;
}

Result<void> LiveProcess::wait_for_line(const std::string& line,
                                        std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    // Look for the line among the complete lines read so far.
    for (std::size_t nl; (nl = output_.find('\n', scanned_)) != std::string::npos;) {
      bool match = output_.compare(scanned_, nl - scanned_, line) == 0;
      scanned_ = nl + 1;
      if (match) return {};
    }
    if (!read_some(deadline)) {
      std::string why = stdout_fd_ < 0 ? "exited" : "timed out";
      return fail(ErrorKind::Io, why + " before printing \"" + line + "\"; output: " + output_);
    }
  }
}

Result<std::string> LiveProcess::wait_for_prefix(const std::string& prefix,
                                                 std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    for (std::size_t nl; (nl = output_.find('\n', scanned_)) != std::string::npos;) {
      std::string line = output_.substr(scanned_, nl - scanned_);
      scanned_ = nl + 1;
      if (line.starts_with(prefix)) return line;
    }
    if (!read_some(deadline)) {
      std::string why = stdout_fd_ < 0 ? "exited" : "timed out";
      return fail(ErrorKind::Io, why + " before printing a line starting with \"" + prefix +
                                     "\"; output: " + output_);
    }
  }
}

bool LiveProcess::send(const std::string& text) {
  return stdin_fd_ >= 0 && write(stdin_fd_, text.data(), text.size()) == ssize_t(text.size());
}

void LiveProcess::close_stdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

bool LiveProcess::reap(int flags) {
  if (reaped_) return true;
  int status = 0;
  pid_t r = waitpid(pid_, &status, flags);
  if (r != pid_) return false;
  reaped_ = true;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

Result<int> LiveProcess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  // Its stdout closes when it exits (unless a grandchild holds it): drain it, then reap.
  while (stdout_fd_ >= 0 && Clock::now() < deadline) read_some(deadline);
  if (reap(WNOHANG)) return status_;
  // A pidfd becomes readable when the process exits: poll it instead of sleeping.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd < 0) return fail_errno(errno, "pidfd_open");
  pollfd pfd{pidfd, POLLIN, 0};
  while (poll(&pfd, 1, ms_until(deadline)) < 0 && errno == EINTR) {
  }
  close(pidfd);
  if (!reap(WNOHANG))
    return fail(ErrorKind::Io, "process " + std::to_string(pid_) + " did not exit");
  return status_;
}

void LiveProcess::kill() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  reap(0);
}

}  // namespace goscry::testing
