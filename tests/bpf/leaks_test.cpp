// goscry leaks on one process per pattern, all at once (the suite takes ~2 minutes, not 20):
// each leak fixture leaks at 2 goroutines/s and must be reported within 60 s with the
// creation and blocking lines its source marks ("creation:<mode>", "blocks:<mode>"); the
// controls (pool, keep-alive HTTP, tickers, pub/sub, bursts) must give no suspect in 120 s.
// Needs root (ptrace of a sibling process, BPF site counters).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/go_traceback.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::LiveProcess;

const std::vector<std::string> kLeaks = {"send",  "recv",      "range", "nilchan", "selectnone",
                                         "mutex", "waitgroup", "cond",  "sleep",   "netread"};
const std::vector<std::string> kControls = {"pool", "keepalive", "ticker", "pubsub", "burst"};

// Line numbers of the "// creation:<mode>" and "// blocks:<mode>" markers.
std::map<std::string, int> marker_lines() {
  std::ifstream in(testing::source_dir() + "/tests/fixtures/leaks/main.go");
  std::map<std::string, int> out;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    for (const char* kind : {"// creation:", "// blocks:"}) {
      auto p = line.find(kind);
      if (p != std::string::npos) out[line.substr(p + 3)] = n;
    }
  }
  return out;
}

struct Watch {
  std::string mode;
  std::unique_ptr<LiveProcess> target;
  testing::CommandResult result;
  std::thread thread;
};

nlohmann::json final_report(const std::string& out) {
  auto lines = testing::split_lines(out);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    auto j = nlohmann::json::parse(*it, nullptr, false);
    if (!j.is_discarded() && j.value("report", "") == "leaks") return j;
  }
  return nullptr;
}

bool is_control(const std::string& mode) {
  return std::find(kControls.begin(), kControls.end(), mode) != kControls.end();
}

// Starts one fixture process per mode and watches each with `goscry leaks` at once.
std::vector<std::unique_ptr<Watch>> watch_all(const testing::Fixture& fixture,
                                              const std::vector<std::string>& modes) {
  std::vector<std::unique_ptr<Watch>> watches;
  for (const auto& mode : modes) {
    auto p = LiveProcess::start({fixture.path, mode});
    EXPECT_TRUE(p) << mode << ": " << p.error().message;
    if (!p) return {};
    watches.push_back(std::make_unique<Watch>());
    watches.back()->mode = mode;
    watches.back()->target = std::move(*p);
  }
  for (auto& w : watches) {
    std::vector<std::string> argv = {testing::goscry_binary(), "leaks", "--pid",
                                     std::to_string(w->target->pid()), "--format", "json",
                                     "-d", is_control(w->mode) ? "120s" : "60s"};
    if (w->mode == "recv")
      argv.insert(argv.end(), {"--leak-profile", ::testing::TempDir() + "/goroutineleak.pb.gz"});
    w->thread = std::thread([&w = *w, argv] { w.result = testing::run_command(argv); });
  }
  for (auto& w : watches) w->thread.join();
  return watches;
}

// The example stack is its goroutine's traceback as the target's runtime prints it, each
// frame's arguments included: byte for byte its own runtime.Stack, asked for after the
// watch (a leaked goroutine never moves on, so the words the runtime reads are the ones
// goscry read).
void expect_example_as_the_runtime_prints_it(LiveProcess& target, const nlohmann::json& s) {
  ASSERT_TRUE(target.send("traceback\n"));
  ASSERT_TRUE(target.wait_for_line("end traceback", std::chrono::seconds(30)));
  const auto oracle = testing::parse_traceback(testing::oracle_traceback(target.output()));
  const auto example = testing::parse_traceback(s["example_stack"].get<std::string>());
  const auto id = s["example_goroutine"].get<std::uint64_t>();
  ASSERT_EQ(example.size(), 1u) << s["example_stack"];
  ASSERT_TRUE(example.count(id)) << s["example_stack"];
  ASSERT_TRUE(oracle.count(id)) << "goroutine " << id << " is not in the target's traceback";
  EXPECT_EQ(example.at(id).printed, oracle.at(id).printed) << s["example_stack"];
  EXPECT_EQ(example.at(id).created_by, oracle.at(id).created_by);
  EXPECT_EQ(example.at(id).created_at, oracle.at(id).created_at);
}

// A control gives no suspect; a leak is reported within 60 s at the creation and blocking
// lines its source marks, growing, with an example stack.
void check_watch(Watch& w, const std::map<std::string, int>& markers) {
  SCOPED_TRACE(w.mode);
  auto report = final_report(w.result.out);
  ASSERT_FALSE(report.is_null()) << w.result.out << w.result.err;
  const auto& suspects = report["suspects"];
  if (is_control(w.mode)) {
    EXPECT_EQ(w.result.exit_code, 0) << w.result.err;
    EXPECT_EQ(suspects.size(), 0u) << report.dump(2);
    return;
  }
  EXPECT_EQ(w.result.exit_code, 3) << w.result.err;
  bool found = false;
  for (const auto& s : suspects) {
    const bool sites = s["creation_site"]["line"] == markers.at("creation:" + w.mode) &&
                       s["blocking_site"]["line"] == markers.at("blocks:" + w.mode) &&
                       s["creation_site"]["file"].get<std::string>().ends_with("leaks/main.go");
    if (!sites) continue;
    found = true;
    EXPECT_LE(s["reported_after_seconds"].get<double>(), 60.0);
    EXPECT_GT(s["growth_per_minute"].get<double>(), 30.0);  // 2/s leaked, 1/s for send
    EXPECT_FALSE(s["example_stack"].get<std::string>().empty());
    expect_example_as_the_runtime_prints_it(*w.target, s);
  }
  EXPECT_TRUE(found) << "no suspect with the marked creation and blocking lines:\n"
                     << report.dump(2);
  if (w.mode == "recv") {
    // The goroutineleak profile holds the suspects' goroutines and opens in go tool pprof.
    auto traces = testing::run_command({testing::go_command(), "tool", "pprof", "-traces",
                                        ::testing::TempDir() + "/goroutineleak.pb.gz"});
    EXPECT_EQ(traces.exit_code, 0) << traces.err;
    EXPECT_NE(traces.out.find("main.leakRecv.func1"), std::string::npos) << traces.out;
  }
}

void needs_root() {
  if (geteuid() == 0) return;
  const char* ci = std::getenv("CI");
  if (ci && std::string(ci) == "true") FAIL() << "needs root (ptrace, BPF) and CI=true";
  GTEST_SKIP() << "needs root: goscry leaks reads a sibling process and attaches BPF probes";
}

TEST(Leaks, ReportsEveryLeakPatternWithItsSitesAndNoControl) {
  needs_root();
  if (IsSkipped() || HasFailure()) return;
  const auto fixture = testing::newest_fixture("leaks");
  ASSERT_TRUE(fixture) << "no leaks fixture was built";
  std::vector<std::string> modes = kLeaks;
  modes.insert(modes.end(), kControls.begin(), kControls.end());
  const auto markers = marker_lines();
  for (auto& w : watch_all(*fixture, modes)) check_watch(*w, markers);
}

// The verb on one leak, in a minute: what the kernel matrix runs in each guest, where the
// fifteen processes of the test above take nine minutes (docs/kernels.md).
TEST(Leaks, ReportsOneLeakAtItsCreationAndBlockingLines) {
  needs_root();
  if (IsSkipped() || HasFailure()) return;
  const auto fixture = testing::newest_fixture("leaks");
  ASSERT_TRUE(fixture) << "no leaks fixture was built";
  const auto markers = marker_lines();
  auto watches = watch_all(*fixture, {"recv"});
  ASSERT_EQ(watches.size(), 1u);
  check_watch(*watches[0], markers);
}

}  // namespace
}  // namespace goscry
