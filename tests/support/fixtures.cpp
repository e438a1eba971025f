#include "tests/support/fixtures.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace goscry::testing {

namespace {

std::string fixture_dir() {
  const char* dir = std::getenv("GOSCRY_FIXTURE_DIR");
  return dir ? dir : GOSCRY_FIXTURE_DIR;
}

}  // namespace

std::vector<Fixture> all_fixtures(const std::string& name, const std::string& goarch) {
  const bool host = goarch.empty() || goarch == "amd64";
  std::ifstream in(fixture_dir() + (host ? "/manifest.txt" : "/manifest-" + goarch + ".txt"));
  std::vector<Fixture> out;
  Fixture f;
  f.goarch = host ? "amd64" : goarch;
  while (in >> f.go_version >> f.name >> f.variant >> f.path) {
    if (name.empty() || f.name == name) out.push_back(f);
  }
  return out;
}

std::optional<Fixture> newest_fixture(const std::string& name, const std::string& variant) {
  std::optional<Fixture> out;
  for (auto& f : all_fixtures(name))
    if (f.variant == variant) out = std::move(f);  // the manifest is sorted: the newest last
  return out;
}

std::vector<PluginBuild> plugin_builds() {
  const std::filesystem::path dir = std::filesystem::path(fixture_dir()) / "unsupported";
  std::vector<PluginBuild> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!std::filesystem::exists(e.path() / "goplugin-host")) continue;
    out.push_back({e.path().filename().string(), (e.path() / "goplugin-host").string(),
                   (e.path() / "goplugin.so").string()});
  }
  std::sort(out.begin(), out.end(),
            [](const PluginBuild& a, const PluginBuild& b) { return a.go_version < b.go_version; });
  return out;
}

std::string goscry_binary() { return GOSCRY_BINARY; }
std::string source_dir() { return GOSCRY_SOURCE_DIR; }

std::string go_command() {
  static const std::string go = [] {
    auto r = run_command({source_dir() + "/scripts/go-env.sh", "--print-go"});
    auto lines = split_lines(r.out);
    if (r.exit_code != 0 || lines.empty()) throw std::runtime_error("no Go toolchain: " + r.err);
    return lines.back();
  }();
  return go;
}

pid_t never_a_pid() {
  std::ifstream in("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  in >> pid_max;
  return static_cast<pid_t>(pid_max + 1);
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::uint64_t printed_address(const std::string& output, const std::string& prefix) {
  for (const auto& line : split_lines(output))
    if (line.starts_with(prefix + " 0x")) return std::stoull(line.substr(prefix.size() + 1), nullptr, 16);
  ADD_FAILURE() << "no \"" << prefix << "\" line in: " << output;
  return 0;
}

pid_t start_program(const std::vector<std::string>& argv, int in, int out, int err,
                    const std::vector<std::string>& env, bool die_with_test) {
  // The child's argv and environment are made before the fork: a forked copy of a
  // multi-threaded test may not allocate.
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  if (die_with_test) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // the test died before prctl
  }
  const int fds[] = {in, out, err};
  for (int fd = 0; fd < 3; ++fd)
    if (fds[fd] >= 0) dup2(fds[fd], fd);
  execvpe(args[0], args.data(), envp.data());
  _exit(127);
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  const pid_t pid = start_program(argv, in_pipe[0], out_pipe[1], err_pipe[1]);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Feed stdin and drain both outputs together so neither side blocks on a full pipe.
  std::size_t written = 0;
  if (input.empty()) close(in_pipe[1]);
  CommandResult r;
  bool out_open = true, err_open = true, in_open = !input.empty();
  while (out_open || err_open) {
    pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0},
                     {in_open ? in_pipe[1] : -1, POLLOUT, 0}};
    poll(fds, 3, -1);
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      bool& open = i == 0 ? out_open : err_open;
      if (!open || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) open = false;
      else (i == 0 ? r.out : r.err).append(buf, n);
    }
    if (in_open && (fds[2].revents & (POLLOUT | POLLERR))) {
      // POLLOUT promises room for PIPE_BUF bytes only: a larger write would block while
      // the child blocks on its full stdout, which we would no longer drain.
      std::size_t chunk = std::min<std::size_t>(input.size() - written, PIPE_BUF);
      ssize_t n = write(in_pipe[1], input.data() + written, chunk);
      if (n > 0) written += n;
      if (n <= 0 || written == input.size()) {
        close(in_pipe[1]);
        in_open = false;
      }
    }
  }
  if (in_open) close(in_pipe[1]);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace goscry::testing
