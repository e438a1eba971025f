#include "tests/support/realworld_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/fixtures.h"
#include "tests/support/raw_http.h"
#include "tests/support/traceback_sandwich.h"

namespace goscry::testing {

std::optional<std::string> realworld_binary(const std::string& name) {
  std::ifstream manifest(GOSCRY_REALWORLD_MANIFEST);
  std::string n, path;
  while (manifest >> n >> path)
    if (n == name && access(path.c_str(), X_OK) == 0) return path;
  return std::nullopt;
}

RealServer::RealServer(const std::string& name) {
  dir_ =
      std::filesystem::temp_directory_path() / ("goscry-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

void RealServer::start(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int log = open((dir_ / "output.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = start_program(argv, -1, log, log, env, /*die_with_test=*/true);
  close(log);
}

RealServer::~RealServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RealServer::output() const {
  std::ifstream in(dir_ / "output.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> goroutines_serving_traceback(const std::string& debug2) {
  std::vector<std::string> ids;
  const auto blocks = traceback_blocks(debug2);
  for (const auto& [id, block] : blocks)
    if (block.find("\nruntime/pprof.writeGoroutineStacks(") != std::string::npos) ids.push_back(id);
  if (ids.size() != 1) return ids;
  // Go 1.21+ names the creator's goroutine; before, the request's background read is known
  // by its creator alone (it lives only while a request is served).
  const std::string started_by_writer = " in goroutine " + ids[0] + "\n";
  const std::string background_read_pre121 =
      "\ncreated by net/http.(*connReader).startBackgroundRead\n";
  for (const auto& [id, block] : blocks)
    if (block.find(started_by_writer) != std::string::npos ||
        block.find(background_read_pre121) != std::string::npos)
      ids.push_back(id);
  return ids;
}

namespace {

// The program's traceback over a connection kept open, or empty when it did not answer.
std::string debug2_over(RawConnection& c, const std::string& path) {
  if (!c.send(get_request(path))) return "";
  auto r = c.responses(1, std::chrono::seconds(10));
  return r.empty() || status_of(r[0]) != 200 ? "" : body_of(r[0]);
}

// Goroutines alive apart from the request for the traceback: its connection's goroutine is
// counted (it lives on, idle, between the requests) but not what it started for the request.
std::int64_t own_live_count(const std::string& debug2) {
  const auto serving = goroutines_serving_traceback(debug2);
  const std::size_t request_only = serving.empty() ? 0 : serving.size() - 1;
  return std::int64_t(traceback_blocks(debug2).size() - request_only);
}

void expect_top_live_matches(const std::string& name, pid_t pid, int port,
                             const std::string& path) {
  RawConnection c(port);
  ASSERT_TRUE(c.ok()) << name << ": its debug port " << port << " refused";
  // Its count may change between the reads (a timer, a housekeeping goroutine): the moments
  // when it read the same before and after are the ones compared, up to ten tries.
  std::int64_t before = -1, after = -2, live = -3;
  int tries = 0;
  for (; tries < 10 && (before != after || live != before); ++tries) {
    const std::string own = debug2_over(c, path);
    auto top = run_command({goscry_binary(), "top", "--pid", std::to_string(pid), "--once",
                            "--interval", "50ms", "--format", "json"});
    const std::string own_after = debug2_over(c, path);
    ASSERT_EQ(top.exit_code, 0) << top.err;
    ASSERT_FALSE(own.empty() || own_after.empty()) << name << ": its debug=2 did not answer";
    auto report = nlohmann::json::parse(top.out, nullptr, false);
    ASSERT_TRUE(report.is_object()) << top.out;
    before = own_live_count(own);
    after = own_live_count(own_after);
    live = report["goroutines"]["live"].get<std::int64_t>();
  }
  EXPECT_EQ(before, after) << name << ": its own count never held still over ten tries";
  EXPECT_EQ(live, before) << name << ": goscry top's live count against its own (" << tries
                          << " tries)";
  std::printf("%s: top live %lld, its own count %lld (%d tries)\n", name.c_str(),
              static_cast<long long>(live), static_cast<long long>(before), tries);
}

}  // namespace

void expect_goscry_agrees_with_own_runtime(const std::string& name, pid_t pid, int debug2_port,
                                           const std::string& debug2_path,
                                           std::size_t min_compared) {
  const std::string url = "http://127.0.0.1:" + std::to_string(debug2_port) + debug2_path;
  auto sandwich = dump_between_own_tracebacks(pid, [&] { return http_get(url); });
  EXPECT_GE(sandwich.compared, min_compared) << name << ": too few goroutines held still";
  EXPECT_EQ(sandwich.differences, "") << name << ": " << sandwich.compared << " compared";
  std::printf("%s: %zu goroutines compared, %zu byte-identical\n", name.c_str(), sandwich.compared,
              sandwich.identical);
  expect_top_live_matches(name, pid, debug2_port, debug2_path);
}

}  // namespace goscry::testing
