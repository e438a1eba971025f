// `goscry record` on the cpuburn fixture, against independent oracles: the fixture's known
// 2:1 split of work between two functions, the CPU time the kernel charged the target
// (/proc/PID/stat utime+stime around the sampling window), `go tool pprof` as the reader
// of the profile, python3's XML parser for the SVG, and the fixture's source for the
// inlined function's lines.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "agent/probes/bpf_loader.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/recording.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::go_command;
using testing::goscry_binary;
using testing::LiveProcess;
using testing::run_command;
using testing::split_lines;
using testing::flat_samples;
using testing::record;
using testing::temp_path;
using testing::total;

const testing::Fixture* plain_cpuburn() {
  static const auto fixtures = all_fixtures("cpuburn");
  for (const auto& f : fixtures)
    if (f.variant == "plain") return &f;
  return nullptr;
}

std::vector<testing::Fixture> cpuburn(const std::string& variant = "") {
  std::vector<testing::Fixture> out;
  for (const auto& f : all_fixtures("cpuburn"))
    if (variant.empty() || f.variant == variant) out.push_back(f);
  EXPECT_FALSE(out.empty()) << "no cpuburn fixture built";
  return out;
}

// Every toolchain's plain build (5 s each).
TEST(Record, FindsTheTwoToOneSplitAndSamplesAtTheRateOfTheTargetsCpuTime) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  double pooled_twice = 0, pooled_once = 0;
  for (const auto& fixture : cpuburn("plain")) {
  SCOPED_TRACE(fixture.label());
  const auto* f = &fixture;
  auto target = LiveProcess::start({f->path});
  ASSERT_TRUE(target) << target.error().message;
  const std::string profile = temp_path("ratio.pb.gz");
  auto rec = record((*target)->pid(), {"-d", "5s", "-o", profile});
  ASSERT_EQ(rec.exit_code, 0) << rec.output;
  std::string raw;
  auto flat = flat_samples(profile, &raw);
  const double twice = flat["main.burnTwice"], once = flat["main.burnOnce"];
  ASSERT_GT(once, 0) << raw;
  const double ratio = twice / once;
  const double expected = 99 * rec.target_cpu;
  std::printf("%s: burnTwice %.0f, burnOnce %.0f, ratio %.3f; samples %ld, expected %.1f "
              "(99 Hz x %.3f s of target CPU; schedstat says %.3f s)\n",
              f->label().c_str(), twice, once, ratio, total(flat), expected, rec.target_cpu, rec.target_run);
  std::printf("%s", rec.output.c_str());
  // Each CPU's clock ticks 99 times a second and a tick is the target's sample with the
  // share p of that CPU the target had: the counts are binomial, and every bound below is
  // 4 sigma of them. Idle, p is near 1 and the total is near exact; on a loaded machine (CI
  // at load 12: p ~0.14, ~140 samples) a fixed ±10% was 1.2 sigma and failed 3 runs of 3,
  // while `perf record` on the same loaded target agreed with goscry's split.
  const double n = twice + once, share_sigma = std::sqrt(2.0 / 9.0 / n);
  EXPECT_NEAR(twice / n, 2.0 / 3.0, 4 * share_sigma) << "ratio " << ratio << "\n" << raw;
  pooled_twice += twice;
  pooled_once += once;
  const double ticks = 99.0 * 5 * sysconf(_SC_NPROCESSORS_ONLN);
  const double p = std::min(1.0, expected / ticks);
  const double total_sigma = std::sqrt(expected * (1 - p));
  EXPECT_NEAR(static_cast<double>(total(flat)), expected,
              std::max(0.1 * expected, 4 * total_sigma)) << raw;
  EXPECT_GT(flat["main.spin"], 0) << "the inlined function has no flat samples of its own\n" << raw;
  }
  std::printf("pooled: burnTwice %.0f, burnOnce %.0f, ratio %.3f\n", pooled_twice, pooled_once,
              pooled_twice / pooled_once);
  // The issue's ±15% of the ratio, or 4 sigma where the pooled samples are too few for it
  // (near 2:1 the ratio moves 9 times as far as burnTwice's share).
  const double pooled_sigma = 9 * std::sqrt(2.0 / 9.0 / (pooled_twice + pooled_once));
  EXPECT_NEAR(pooled_twice / pooled_once, 2.0, std::max(0.3, 4 * pooled_sigma));
}

// The line range of `func name` in the fixture's source: the oracle for its frames' lines.
std::pair<int, int> function_lines(const std::string& name) {
  std::ifstream src(testing::source_dir() + "/tests/fixtures/cpuburn/main.go");
  int n = 0, first = 0;
  for (std::string line; std::getline(src, line);) {
    ++n;
    if (line.starts_with("func " + name + "(")) first = n;
    if (first && line == "}") return {first, n};
  }
  return {0, 0};
}

// Every toolchain and variant (plain, stripped, PIE, cgo), 2 s each.
TEST(Record, ShowsTheInlinedFunctionAsItsOwnFrameWithItsLines) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  for (const auto& fixture : cpuburn()) {
  SCOPED_TRACE(fixture.label());
  const auto* f = &fixture;
  auto target = LiveProcess::start({f->path});
  ASSERT_TRUE(target) << target.error().message;
  const std::string profile = temp_path("inline.pb.gz");
  auto rec = record((*target)->pid(), {"-d", "2s", "-o", profile});
  ASSERT_EQ(rec.exit_code, 0) << rec.output;
  auto r = run_command({go_command(), "tool", "pprof", "-top", "-lines", "-nodecount=1000",
                        "-sample_index=samples", profile});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto [first, last] = function_lines("spin");
  ASSERT_GT(first, 0);
  bool found = false;
  for (const auto& line : split_lines(r.out)) {
    auto at = line.find("main.spin ");
    if (at == std::string::npos) continue;
    auto colon = line.rfind("cpuburn/main.go:");
    ASSERT_NE(colon, std::string::npos) << line;
    int ln = std::atoi(line.c_str() + colon + std::strlen("cpuburn/main.go:"));
    EXPECT_GE(ln, first) << line;
    EXPECT_LE(ln, last) << line;
    found = true;
  }
  EXPECT_TRUE(found) << r.out;
  }
}

TEST(Record, WritesAWellFormedSvgAndFoldedStacks) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  const auto* f = plain_cpuburn();
  ASSERT_NE(f, nullptr);
  auto target = LiveProcess::start({f->path});
  ASSERT_TRUE(target) << target.error().message;
  const std::string svg = temp_path("flame.svg"), folded = temp_path("stacks.folded");
  ASSERT_EQ(record((*target)->pid(), {"-d", "2s", "-o", svg}).exit_code, 0);
  ASSERT_EQ(record((*target)->pid(), {"-d", "2s", "-o", folded}).exit_code, 0);

  auto xml = run_command({"python3", "-c",
                          "import sys, xml.etree.ElementTree as E\n"
                          "t = E.parse(sys.argv[1])\n"
                          "print('\\n'.join(x.text or '' for x in t.iter() if x.tag.endswith('title')))",
                          svg});
  ASSERT_EQ(xml.exit_code, 0) << xml.err;
  for (const char* name : {"main.burnTwice", "main.burnOnce", "main.spin"})
    EXPECT_NE(xml.out.find(name), std::string::npos) << name;
  // runtime/pprof leaves runtime.goexit out of every stack; so do goscry's.
  EXPECT_EQ(xml.out.find("runtime.goexit"), std::string::npos);

  std::ifstream in(folded);
  std::map<std::string, long> stacks;
  long leaf_twice = 0;
  for (std::string line; std::getline(in, line);) {
    auto sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    // Keyed by the frames from main.burn on: what lies under it (the go statement's
    // wrapper) differs between Go versions. The burn* leaves are frameless (no
    // saved frame pointer), so a frame-pointer walk from them goes straight to burn's
    // caller: main.burn is there only because goscry puts back the return address found
    // at the leaf's SP (cpu.bpf.c sp_ret, the pcsp table says SP is at its entry value).
    std::string stack = line.substr(0, sp);
    EXPECT_TRUE(stack.starts_with("main.") || stack.starts_with("runtime.") ||
                stack.find("[k]") != std::string::npos)
        << line;
    EXPECT_EQ(stack.find("runtime.goexit"), std::string::npos) << line;
    const long n = std::stol(line.substr(sp + 1));
    // main.burn may be the root: the goroutine's first function, goexit left out.
    auto burn = (";" + stack).find(";main.burn;");
    if (burn != std::string::npos) stacks[stack.substr(burn)] += n;
    if (stack.ends_with(";main.burnTwice")) leaf_twice += n;
  }
  for (const char* want : {"main.burn;main.burnTwice",
                           "main.burn;main.burnOnce",
                           "main.burn;main.burnInlined;main.spin"})
    EXPECT_GT(stacks[want], 0) << want;
  // Nearly every sample of the frameless leaf has its caller (the rest: the leaf's first
  // instructions, a sample between a PUSH and the frame pointer's move).
  EXPECT_GE(stacks["main.burn;main.burnTwice"], 0.9 * leaf_twice) << leaf_twice;
}

TEST(Record, AShortRecordAndAnIdleTargetGiveCleanProfiles) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  const auto* f = plain_cpuburn();
  ASSERT_NE(f, nullptr);
  {
    auto target = LiveProcess::start({f->path});
    ASSERT_TRUE(target) << target.error().message;
    const std::string profile = temp_path("short.pb.gz");
    auto rec = record((*target)->pid(), {"-d", "1s", "-o", profile});
    ASSERT_EQ(rec.exit_code, 0) << rec.output;
    auto flat = flat_samples(profile);
    EXPECT_NEAR(static_cast<double>(total(flat)), 99 * rec.target_cpu, 0.2 * 99 * rec.target_cpu + 5);
  }
  {
    auto idle = LiveProcess::start({f->path, "idle"});
    ASSERT_TRUE(idle) << idle.error().message;
    const std::string profile = temp_path("idle.pb.gz");
    auto rec = record((*idle)->pid(), {"-d", "1s", "-o", profile});
    ASSERT_EQ(rec.exit_code, 0) << rec.output;
    auto flat = flat_samples(profile);
    EXPECT_LE(total(flat), 2) << "an idle target has (almost) no samples";
  }
}

TEST(Record, CtrlCStopsEarlyAndStillWritesTheProfile) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  const auto* f = plain_cpuburn();
  ASSERT_NE(f, nullptr);
  auto target = LiveProcess::start({f->path});
  ASSERT_TRUE(target) << target.error().message;
  const std::string profile = temp_path("interrupted.pb.gz");
  const std::string pid = std::to_string((*target)->pid());
  // Above 250 Hz goscry warns before it starts.
  auto goscry = LiveProcess::start(
      {goscry_binary(), "record", "--pid", pid, "--hz", "300", "-d", "60s", "-o", profile},
      "goscry record: recording pid " + pid + " at 300 Hz", std::chrono::seconds(60));
  ASSERT_TRUE(goscry) << goscry.error().message;
  EXPECT_NE((*goscry)->output().find("warning"), std::string::npos) << (*goscry)->output();
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill((*goscry)->pid(), SIGINT), 0);
  auto status = (*goscry)->wait_exit(std::chrono::seconds(30));
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(*status, 0) << (*goscry)->output();
  EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(10));
  EXPECT_NE((*goscry)->output().find("(interrupted)"), std::string::npos) << (*goscry)->output();
  auto r = run_command({go_command(), "tool", "pprof", "-top", profile});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Record, ATargetExitingMidRecordStillGivesItsProfile) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  const auto* f = plain_cpuburn();
  ASSERT_NE(f, nullptr);
  auto target = LiveProcess::start({f->path, "2s"});
  ASSERT_TRUE(target) << target.error().message;
  const std::string folded = temp_path("exit.folded");
  auto rec = record((*target)->pid(), {"-d", "20s", "-o", folded});
  ASSERT_EQ(rec.exit_code, 0) << rec.output;
  EXPECT_NE(rec.output.find("the target exited"), std::string::npos) << rec.output;
  std::ifstream in(folded);
  std::stringstream all;
  all << in.rdbuf();
  EXPECT_NE(all.str().find("main.burnTwice"), std::string::npos) << all.str();
}

}  // namespace
}  // namespace goscry
