#include "tests/support/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/support/fixtures.h"

namespace goscry::testing {

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  pid_ = start_program(argv, in[0], out[1], err[1], env);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  in_ = in[1];
  out_.fd = out[0];
  err_.fd = err[0];
}

ChildProcess::~ChildProcess() {
  close_stdin();
  if (pid_ > 0 && !status_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_.fd >= 0) close(out_.fd);
  if (err_.fd >= 0) close(err_.fd);
}

void ChildProcess::write_line(const std::string& line) {
  const std::string s = line + "\n";
  if (in_ >= 0) (void)!write(in_, s.data(), s.size());
}

void ChildProcess::close_stdin() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

std::optional<std::string> ChildProcess::next(Stream& s, int timeout_ms) {
  for (;;) {
    if (auto nl = s.buf.find('\n'); nl != std::string::npos) {
      std::string line = s.buf.substr(0, nl);
      s.buf.erase(0, nl + 1);
      return line;
    }
    if (s.fd < 0) return std::nullopt;
    pollfd p{s.fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    char tmp[65536];
    ssize_t n = read(s.fd, tmp, sizeof tmp);
    if (n <= 0) {
      close(s.fd);
      s.fd = -1;
      if (s.buf.empty()) return std::nullopt;
      std::string last = std::move(s.buf);
      s.buf.clear();
      return last;
    }
    s.buf.append(tmp, n);
  }
}

std::string ChildProcess::rest(Stream& s) {
  std::string all;
  while (auto line = next(s, 120000)) all += *line + "\n";
  return all;
}

std::string ChildProcess::rest_of_stdout() { return rest(out_); }
std::string ChildProcess::rest_of_stderr() { return rest(err_); }

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && !status_) kill(pid_, sig);
}

int ChildProcess::wait() {
  if (!status_) {
    int st = 0;
    waitpid(pid_, &st, 0);
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  return *status_;
}

}  // namespace goscry::testing
