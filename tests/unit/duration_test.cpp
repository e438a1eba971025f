// One duration syntax, Go's: the parser against time.ParseDuration itself (a Go program run
// by the test), and every verb's duration flag and the agent's config against the parser:
// each accepts exactly the windows it accepts, and refuses the rest with one sentence
// before it does anything else.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/base/duration.h"
#include "agent/daemon/agent_config.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::run_command;

// Valid Go durations, invalid ones, and the edges of both.
const std::vector<std::string> kSamples = {
    "0", "0s", "-0s", "+0s", "1ns", "1us", "1\u00b5s", "1\u03bcs", "1.5ms", "500ms", "30s",
    "1.5m", "90s", "1h30m", "2h45m30.5s", "0.5h", ".5s", "1.s", "+3s", "-1s", "-1.5m",
    "1.000000000000000000001s", "9223372036854775807ns", "9223372036854775808ns",
    "-9223372036854775808ns", "2562047h", "2562048h", "9999999999h", "", "30", "1.5", "s",
    ".s", "1..5s", "1s ", " 1s", "1d", "5 minutes", "1e3s", "NaN", "nan", "inf", "-", "+",
    "1h-1m", "1S", "0x10s"};

// What time.ParseDuration says of each sample: "ok <ns>" or "error".
std::vector<std::string> go_parse_durations(const std::vector<std::string>& samples) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "go_durations";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "main.go") << R"(package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if d, err := time.ParseDuration(in.Text()); err != nil {
			fmt.Println("error")
		} else {
			fmt.Println("ok", int64(d))
		}
	}
}
)";
  std::string input;
  for (const auto& s : samples) input += s + "\n";
  auto r = run_command({testing::go_command(), "run", (dir / "main.go").string()}, input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> out;
  std::istringstream lines(r.out);
  for (std::string l; std::getline(lines, l);) out.push_back(l);
  return out;
}

TEST(GoDuration, ParsesLikeTimeParseDuration) {
  const auto go = go_parse_durations(kSamples);
  ASSERT_EQ(go.size(), kSamples.size());
  for (std::size_t i = 0; i < kSamples.size(); ++i) {
    SCOPED_TRACE("\"" + kSamples[i] + "\"");
    auto d = parse_go_duration(kSamples[i]);
    EXPECT_EQ(d ? "ok " + std::to_string(d->count()) : "error", go[i])
        << (d ? "" : d.error().message);
  }
}

TEST(GoDuration, WindowsAreAtLeastTenMilliseconds) {
  EXPECT_EQ(parse_window("--duration", "1.5m").value(), std::chrono::seconds(90));
  EXPECT_EQ(parse_window("--duration", "10ms").value(), std::chrono::milliseconds(10));
  EXPECT_EQ(parse_window("--duration", "0").error().message,
            "--duration: must be at least 10ms, not 0");
  EXPECT_EQ(parse_window("--duration", "-1s").error().message,
            "--duration: must be at least 10ms, not -1s");
  EXPECT_EQ(parse_window("--duration", "9.9ms").error().message,
            "--duration: must be at least 10ms, not 9.9ms");
  EXPECT_EQ(parse_window("--interval", "5 minutes").error().message,
            "--interval: bad duration \"5 minutes\": unknown unit \" minutes\" (Go's syntax: "
            "500ms, 30s, 1.5m, 2h45m)");
}

// A pid no process has: a child that has exited and been reaped.
int vanished_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

// Whether `goscry <verb> --pid <gone> <flag> <value>` refused the value (exit 2, one line
// naming the flag) rather than going on to the process (which does not exist).
bool verb_refuses(const std::string& verb, const std::string& flag, const std::string& value,
                  int pid) {
  auto r = run_command(
      {testing::goscry_binary(), verb, "--pid", std::to_string(pid), flag + "=" + value});
  EXPECT_NE(r.exit_code, 0) << verb << " " << flag << " " << value << " did not fail on a gone pid";
  // The duration parser's refusals start "<flag>: "; other refusals (leaks: a watch too
  // short for the history a leak needs at that interval) may name the flag in passing.
  const bool refused = r.err.find(flag + ": ") != std::string::npos;
  if (refused) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  return refused;
}

TEST(GoDuration, EveryVerbAndTheConfigAcceptTheSameStrings) {
  const int pid = vanished_pid();
  const std::vector<std::pair<std::string, std::string>> flags = {
      {"top", "--interval"}, {"gc", "--duration"},    {"leaks", "--duration"},
      {"leaks", "--interval"}, {"record", "--duration"}};
  for (const auto& s : kSamples) {
    SCOPED_TRACE("\"" + s + "\"");
    const bool window = parse_window("x", s).has_value();
    // An empty value is CLI11's to refuse (also with 2), in its own words.
    for (const auto& [verb, flag] : flags) {
      if (s.empty()) continue;
      EXPECT_EQ(verb_refuses(verb, flag, s, pid), !window) << "goscry " << verb << " " << flag;
    }
    auto c = parse_agent_config("grace_period: '" + s + "'\n");
    EXPECT_EQ(c.has_value(), window) << (c ? "" : c.error().message);
  }
}

}  // namespace
}  // namespace goscry
