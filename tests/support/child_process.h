// A program run by a test with its stdin, stdout and stderr on pipes: lines are read as
// they come (with a timeout, never a sleep), signals sent, the exit status collected. The
// child is killed when the object goes, so a failing test leaves nothing running.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace goscry::testing {

class ChildProcess {
 public:
  // `env` entries ("NAME=value") are added to the inherited environment.
  explicit ChildProcess(const std::vector<std::string>& argv,
                        const std::vector<std::string>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void write_line(const std::string& line = "");
  void close_stdin();
  // The next line of stdout / stderr; nullopt at EOF or after `timeout_ms` of silence.
  std::optional<std::string> read_line(int timeout_ms = 60000) { return next(out_, timeout_ms); }
  std::optional<std::string> read_err_line(int timeout_ms = 60000) {
    return next(err_, timeout_ms);
  }
  // Everything left on stdout and stderr until both close.
  std::string rest_of_stdout();
  std::string rest_of_stderr();
  void signal(int sig);
  // Waits for the exit; the exit code, or 128 + signal.
  int wait();

 private:
  struct Stream {
    int fd = -1;
    std::string buf;
  };
  std::optional<std::string> next(Stream& s, int timeout_ms);
  std::string rest(Stream& s);

  pid_t pid_ = -1;
  int in_ = -1;
  Stream out_, err_;
  std::optional<int> status_;
};

}  // namespace goscry::testing
