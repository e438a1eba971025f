// A fixture program running as a live process for the duration of a test: started with
// its stdin and stdout on pipes, waited for until it prints its "ready" line (with a
// timeout, polling its output, never sleeping), and killed and reaped when the object
// goes away, also when the test fails or the test binary dies (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "symbolizer/error.h"

namespace goscry::testing {

class LiveProcess {
 public:
  // Starts argv (no shell; stderr goes to the same pipe as stdout) and waits for a line
  // equal to `ready_line`. Fails when the program exits first or the timeout passes; the
  // error carries what it printed.
  static Result<std::unique_ptr<LiveProcess>> start(
      const std::vector<std::string>& argv, const std::string& ready_line = "ready",
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~LiveProcess();
  LiveProcess(const LiveProcess&) = delete;
  LiveProcess& operator=(const LiveProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Everything the process printed so far (up to the ready line, plus whatever
  // wait_for_line or wait_exit read since).
  const std::string& output() const { return output_; }

  // Reads output until a line equal to `line` appears.
  Result<void> wait_for_line(const std::string& line, std::chrono::milliseconds timeout);
  // Reads output until a line starting with `prefix` appears; returns that line.
  Result<std::string> wait_for_prefix(const std::string& prefix,
                                      std::chrono::milliseconds timeout);
  // Writes `text` to the process's stdin (fixtures that step on a newline).
  bool send(const std::string& text);
  // Closes the process's stdin (the "wait" fixtures exit on EOF).
  void close_stdin();
  // Waits for the process to exit by itself; returns its exit status (128+signal when
  // killed). Fails on timeout.
  Result<int> wait_exit(std::chrono::milliseconds timeout);
  // SIGKILL and reap. Safe to call more than once.
  void kill();

 private:
  LiveProcess() = default;
  // Reads what is available within the deadline; false on EOF or timeout.
  bool read_some(std::chrono::steady_clock::time_point deadline);
  bool reap(int flags);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string output_;
  std::size_t scanned_ = 0;  // output_ before this offset holds no awaited line
};

}  // namespace goscry::testing
