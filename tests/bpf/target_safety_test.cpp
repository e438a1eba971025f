// goscry must never harm the program it watches: the torture fixture (stacks grown and
// copied, 10,000 goroutines, GC pressure, panics) prints the same under goscry as without
// it, and a goscry killed with SIGKILL leaves no breakpoint behind in the target's code.
// Wrong PIDs, non-Go processes, missing privileges and targets that end mid-run give one
// sentence and the documented exit status.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/proc/privileges.h"
#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"
#include "tests/support/probe_bytes.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::attached;
using testing::ChildProcess;
using testing::Fixture;
using testing::for_each_watched_churn;
using testing::goscry_binary;
using testing::probe_bytes;
using testing::run_command;

// How long the torture runs under goscry: GOSCRY_TORTURE_SECONDS, default 20 (the issue
// asks for 60: scripts/torture.sh runs that).
int torture_seconds() {
  const char* v = std::getenv("GOSCRY_TORTURE_SECONDS");
  int n = v ? std::atoi(v) : 0;
  return n > 0 ? n : 20;
}

// The torture's output without goscry: it does not depend on how long it runs.
std::string torture_alone(const std::string& path) {
  ChildProcess t({path}, {"TORTURE_SECONDS=1"});
  std::string out = t.rest_of_stdout();
  EXPECT_EQ(t.wait(), 0);
  return out;
}

TEST(TargetSafety, TortureRunsUnharmedUnderGoscry) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  const int seconds = torture_seconds();
  for (const auto& f : all_fixtures("torture")) {
    if (f.variant != "plain" && f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    const std::string expected = torture_alone(f.path);
    ASSERT_NE(expected.find("all rounds agree"), std::string::npos) << expected;
    // The full duration on plain binaries; PIE shares all but the load address.
    const int s = f.variant == "plain" ? seconds : 5;
    ChildProcess t({f.path}, {"TORTURE_SECONDS=" + std::to_string(s)});
    ASSERT_EQ(t.read_line(), "ready");
    ChildProcess top({goscry_binary(), "top", "--pid", std::to_string(t.pid()), "--interval",
                      "500ms", "--format", "json"});
    ASSERT_TRUE(attached(top));
    std::string out = "ready\n" + t.rest_of_stdout();
    std::string err = t.rest_of_stderr();
    EXPECT_EQ(t.wait(), 0) << err;
    EXPECT_EQ(out, expected);
    EXPECT_EQ(err.find("unexpected return pc"), std::string::npos) << err;
    EXPECT_EQ(err.find("SIGILL"), std::string::npos) << err;
    // goscry saw it all without losing a count, and ended by itself with the target.
    std::string reports = top.rest_of_stdout();
    EXPECT_EQ(top.wait(), 0) << top.rest_of_stderr();
    auto lines = testing::split_lines(reports);
    ASSERT_FALSE(lines.empty());
    auto last = nlohmann::json::parse(lines.back(), nullptr, false);
    ASSERT_TRUE(last.is_object()) << lines.back();
    EXPECT_EQ(last["lost"].get<std::uint64_t>(), 0u);
    EXPECT_TRUE(last.value("target_exited", false));
    EXPECT_GE(last["goroutines"]["created"].get<std::uint64_t>(), 13000u);  // one round
  }
}

TEST(TargetSafety, SigkilledGoscryLeavesNoBreakpointAndTheTargetRunsOn) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  for (const auto& f : all_fixtures("torture")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    const std::string expected = torture_alone(f.path);
    ChildProcess t({f.path}, {"TORTURE_SECONDS=6"});
    ASSERT_EQ(t.read_line(), "ready");
    auto before = probe_bytes(t.pid(), f.path, f.go_version);
    ASSERT_FALSE(before.file.empty());
    EXPECT_EQ(before.breakpoints(), 0u);
    {
      ChildProcess gc({goscry_binary(), "gc", "--pid", std::to_string(t.pid())});
      ASSERT_TRUE(attached(gc));
      // The oracle can fail: while goscry runs, every probed instruction is patched.
      EXPECT_EQ(probe_bytes(t.pid(), f.path, f.go_version).breakpoints(), before.file.size());
      gc.signal(SIGKILL);
      EXPECT_EQ(gc.wait(), 128 + SIGKILL);
    }
    // The kernel removes the uprobes when the dead goscry's perf events close.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::size_t left = 0;
    do {
      left = probe_bytes(t.pid(), f.path, f.go_version).breakpoints();
    } while (left != 0 && std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(left, 0u);
    std::string out = "ready\n" + t.rest_of_stdout();
    EXPECT_EQ(t.wait(), 0);
    EXPECT_EQ(out, expected);
  }
}

// goscry's only writes to a target, the profiling rates of --enable-sampling, at their most
// costly (every allocation sampled, every blocking event and mutex contention recorded),
// then the three profiles read again and again while the torture runs: the target's output
// is the same as alone, and every read is a profile or one sentence, never a crash.
TEST(TargetSafety, TortureRunsUnharmedWithEverySamplingRateWrittenByGoscry) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  for (const auto& f : all_fixtures("torture")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    const std::string expected = torture_alone(f.path);
    ChildProcess t({f.path}, {"TORTURE_SECONDS=10"});
    ASSERT_EQ(t.read_line(), "ready");
    const std::string pid = std::to_string(t.pid());
    for (const char* kind : {"heap", "block", "mutex"}) {
      auto r = run_command({goscry_binary(), kind, "--pid", pid, "--enable-sampling=1",
                            "--seconds", "1", "--format", "json"});
      // The torture never links runtime.MemProfile: from Go 1.25 a written MemProfileRate
      // would sample nothing, and goscry refuses to write it (exit 6, one sentence).
      if (std::string(kind) == "heap" && r.exit_code == 6 &&
          r.err.find("goscry writes nothing") != std::string::npos)
        continue;
      EXPECT_EQ(r.exit_code, 0) << kind << ": " << r.err;
      EXPECT_NE(r.err.find("wrote runtime."), std::string::npos) << r.err;
    }
    int profiles = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(6);
    while (std::chrono::steady_clock::now() < until) {
      for (const char* kind : {"heap", "block", "mutex"}) {
        auto r = run_command({goscry_binary(), kind, "--pid", pid});
        if (r.exit_code == 0) {
          ++profiles;
          continue;
        }
        // The target may end between reads: that, or a bucket list that kept changing,
        // is one sentence.
        EXPECT_EQ(testing::split_lines(r.err).size(), 1u) << kind << ": " << r.err;
      }
    }
    EXPECT_GT(profiles, 0);
    std::string out = "ready\n" + t.rest_of_stdout();
    std::string err = t.rest_of_stderr();
    EXPECT_EQ(t.wait(), 0) << err;
    EXPECT_EQ(out, expected);
    EXPECT_EQ(err.find("fatal error"), std::string::npos) << err;
  }
}

// A PID no process has: one that existed and was reaped.
int vanished_pid() {
  pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, nullptr, 0);
  return p;
}

TEST(VerbErrors, WrongPidIsOneSentence) {
  const int pid = vanished_pid();
  for (const char* verb : {"top", "gc"}) {
    auto r = run_command({goscry_binary(), verb, "--pid", std::to_string(pid)});
    EXPECT_EQ(r.exit_code, 5) << verb;  // no target (README.md "Exit status")
    EXPECT_EQ(r.err, std::string("goscry ") + verb + ": no process with pid " +
                         std::to_string(pid) + "\n");
    EXPECT_EQ(r.out, "");
  }
}

TEST(VerbErrors, NonGoProcessIsOneSentence) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  ChildProcess sleeper({"/bin/sleep", "60"});
  const std::string exe = [&] {
    char buf[4096];
    std::string link = "/proc/" + std::to_string(sleeper.pid()) + "/exe";
    ssize_t n = -1;
    // exec may not have happened yet: wait until the link names sleep.
    for (int i = 0; i < 100000; ++i) {
      n = readlink(link.c_str(), buf, sizeof buf);
      if (n > 0 && std::string(buf, n).find("sleep") != std::string::npos) break;
    }
    return n > 0 ? std::string(buf, n) : std::string();
  }();
  ASSERT_NE(exe.find("sleep"), std::string::npos);
  for (const char* verb : {"top", "gc"}) {
    auto r = run_command({goscry_binary(), verb, "--pid", std::to_string(sleeper.pid())});
    EXPECT_EQ(r.exit_code, 6);  // unsupported
    // The file read is named, as dump and heap name it (no message is cut to rename it).
    const std::string pid = std::to_string(sleeper.pid());
    EXPECT_EQ(r.err, std::string("goscry ") + verb + ": pid " + pid + ": /proc/" + pid + "/root" +
                         exe + ": not a Go binary (no .gopclntab, no .go.buildinfo)\n");
  }
}

TEST(VerbErrors, MissingPrivilegesAreNamed) {
  if (missing_privileges()) GTEST_SKIP() << "needs root to drop privileges from";
  auto fixtures = all_fixtures("churn");
  ASSERT_FALSE(fixtures.empty());
  ChildProcess target({fixtures.front().path});
  ASSERT_EQ(target.read_line(), "ready");
  // As nobody, with no capabilities at all.
  auto r = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", goscry_binary(), "gc", "--pid",
                        std::to_string(target.pid())});
  EXPECT_EQ(r.exit_code, 4);  // not permitted
  EXPECT_EQ(r.err,
            "goscry gc: goscry needs CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE to probe Go processes "
            "(run it as root or grant the capabilities)\n");
}

bool plain(const Fixture& f) { return f.variant == "plain"; }

TEST(VerbErrors, TargetEndingMidRunGivesTheSummaryAndExitsZero) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  auto check = [](const Fixture&, ChildProcess& target, ChildProcess& gc) {
    target.close_stdin();  // the fixture ends on EOF
    EXPECT_EQ(target.wait(), 0);
    const std::string out = gc.rest_of_stdout();
    EXPECT_EQ(gc.rest_of_stderr(),
              "goscry gc: process " + std::to_string(target.pid()) + " exited\n");
    EXPECT_EQ(gc.wait(), 0);
    EXPECT_NE(out.find("summary: "), std::string::npos) << out;
  };
  for_each_watched_churn(plain, "gc", {}, check);
}

TEST(VerbErrors, SigtermEndsTopCleanlyAndDetaches) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  auto check = [](const Fixture& f, ChildProcess& target, ChildProcess& top) {
    EXPECT_GT(probe_bytes(target.pid(), f.path, f.go_version).breakpoints(), 0u);
    top.signal(SIGTERM);
    const std::string out = top.rest_of_stdout();
    EXPECT_EQ(top.wait(), 0);
    EXPECT_NE(out.find("goroutines  live"), std::string::npos) << out;
    EXPECT_EQ(probe_bytes(target.pid(), f.path, f.go_version).breakpoints(), 0u);
  };
  for_each_watched_churn(plain, "top", {}, check);
}

}  // namespace
}  // namespace goscry
