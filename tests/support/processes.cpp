#include "tests/support/processes.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/fixtures.h"

extern char** environ;

namespace goscry::testing {

bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
  }
}

namespace {

std::vector<char*> c_args(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

pid_t spawn(const std::vector<std::string>& argv, int stdin_fd, const std::string& out_path) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  // stdout and stderr both to out_path, appending, so their lines never overwrite each other.
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  auto args = c_args(argv);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  return pid;
}

}  // namespace

HeldProcess::HeldProcess(const std::vector<std::string>& argv) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = spawn(argv, p[0], "/dev/null");
  close(p[0]);
  stdin_fd_ = p[1];
}

HeldProcess::HeldProcess(HeldProcess&& o) noexcept : pid_(o.pid_), stdin_fd_(o.stdin_fd_) {
  o.pid_ = -1;
  o.stdin_fd_ = -1;
}

HeldProcess::~HeldProcess() { kill_and_wait(); }

void HeldProcess::kill_and_wait() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string hello_fixture() {
  for (const auto& f : all_fixtures("hello"))
    if (f.variant == "plain") return f.path;
  throw std::runtime_error("no hello fixture built");
}

AgentProcess::AgentProcess(std::vector<std::string> args, bool add_listen,
                           const std::vector<std::string>& prefix) {
  static int n = 0;
  log_path_ = std::filesystem::temp_directory_path() /
              ("goscry-agent-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".log");
  std::vector<std::string> argv = prefix;
  argv.insert(argv.end(), {goscry_binary(), "agent"});
  argv.insert(argv.end(), args.begin(), args.end());
  if (add_listen) argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  pid_ = spawn(argv, -1, log_path_.string());
}

AgentProcess::~AgentProcess() {
  if (!status_ && pid_ > 0) {
    kill(pid_, SIGTERM);
    if (!wait_exit(std::chrono::seconds(10))) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::error_code ec;
  std::filesystem::remove(log_path_, ec);
}

std::string AgentProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool AgentProcess::wait_listening(std::chrono::milliseconds timeout) {
  // (no std::regex in this file: gcc 12's <regex> trips -Werror under the sanitizers)
  const std::string kAddress = "listening on 127.0.0.1:";
  bool up = poll_until(
      [&] {
        std::string text = log();
        auto at = text.find(kAddress);
        if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
          port_ = std::stoi(text.substr(at + kAddress.size()));
          return true;
        }
        return wait_exit(std::chrono::milliseconds(0)).has_value();
      },
      timeout);
  return up && port_ != 0;
}

std::string AgentProcess::url(const std::string& path, bool tls) const {
  return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
}

void AgentProcess::signal(int sig) const {
  if (!status_) kill(pid_, sig);
}

std::optional<int> AgentProcess::wait_exit(std::chrono::milliseconds timeout) {
  poll_until(
      [&] {
        if (status_) return true;
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_)
          status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_.has_value();
      },
      timeout);
  return status_;
}

std::size_t AgentProcess::rss_bytes() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

HttpReply http_get(const std::string& url, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"curl", "-s", "-S", "--max-time", "10", "-o", "-",
                                   "-w", "\n%{http_code} %{content_type}"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  auto r = run_command(argv);
  HttpReply reply;
  reply.error = r.err;
  auto nl = r.out.rfind('\n');
  if (nl == std::string::npos) return reply;
  std::istringstream tail(r.out.substr(nl + 1));
  tail >> reply.status;
  std::getline(tail >> std::ws, reply.content_type);
  reply.body = r.out.substr(0, nl);
  return reply;
}

}  // namespace goscry::testing
