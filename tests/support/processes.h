// Processes the agent tests start and watch: the agent itself (output captured to files,
// so a chatty child never blocks on a full pipe), live Go fixtures held open on a stdin
// pipe, and small HTTP requests through curl.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace goscry::testing {

// Calls `done` every 20 ms until it returns true or `timeout` passes; returns its last answer.
bool poll_until(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A process whose stdin is a pipe the test holds (a `hello wait` fixture lives until it is
// closed) and whose stdout and stderr go to /dev/null. Spawned with posix_spawn: cheap
// enough to start a thousand.
class HeldProcess {
 public:
  explicit HeldProcess(const std::vector<std::string>& argv);
  ~HeldProcess();
  HeldProcess(HeldProcess&& o) noexcept;
  HeldProcess& operator=(HeldProcess&&) = delete;
  pid_t pid() const { return pid_; }
  // SIGKILL and reap.
  void kill_and_wait();

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
};

// The plain `hello` fixture of the first toolchain built; `hello wait` lives until its stdin
// closes.
std::string hello_fixture();

// `goscry agent ARGS... --listen 127.0.0.1:0`, its stdout and stderr (the log) in a file.
class AgentProcess {
 public:
  // `prefix`: a command that runs the agent (e.g. setpriv dropping capabilities).
  explicit AgentProcess(std::vector<std::string> args, bool add_listen = true,
                        const std::vector<std::string>& prefix = {});
  ~AgentProcess();
  // Waits for "listening on ADDRESS" (true) or for the agent to exit (false).
  bool wait_listening(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  int port() const { return port_; }
  std::string url(const std::string& path, bool tls = false) const;
  pid_t pid() const { return pid_; }
  std::string log() const;
  void signal(int sig) const;
  // Waits for the agent to exit; its status (128+signal when killed), or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // VmRSS of the agent in bytes (0 when gone).
  std::size_t rss_bytes() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::optional<int> status_;
  std::filesystem::path log_path_;
};

struct HttpReply {
  int status = 0;  // 0: no HTTP answer at all (connection or TLS refused)
  std::string content_type;
  std::string body;
  std::string error;  // curl's stderr
};
// GET through curl; `extra` are more curl arguments (-u user:pass, --cacert, --tlsv1.2 ...).
HttpReply http_get(const std::string& url, const std::vector<std::string>& extra = {});

}  // namespace goscry::testing
