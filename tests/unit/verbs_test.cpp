// `goscry info` and `goscry symbolize` as a user runs them: on the Go toolchain's own
// compilers (real binaries nobody here wrote), on a live PIE process, and on bad targets.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "symbolizer/go_binary.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::run_command;

std::vector<std::string> toolchain_compilers() {
  auto root = run_command({testing::go_command(), "env", "GOROOT"});
  std::string goroot = testing::split_lines(root.out).at(0);
  return {goroot + "/pkg/tool/linux_amd64/compile", "/usr/lib/go-1.19/pkg/tool/linux_amd64/compile"};
}

nlohmann::json run_json(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::goscry_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--format");
  argv.push_back("json");
  auto r = run_command(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(Verbs, InfoOnTheToolchainsCompilersMatchesGoVersionAndAddr2line) {
  for (const auto& compile : toolchain_compilers()) {
    SCOPED_TRACE(compile);
    auto j = run_json({"info", "--exe", compile});
    EXPECT_EQ(j["go_version"], testing::go_version_of(compile));
    EXPECT_EQ(j["package"], "cmd/compile");
    // Each probe point's address is the entry of that function by addr2line's account.
    std::vector<std::uint64_t> pcs;
    std::vector<std::string> names;
    for (const auto& p : j["probe_points"]) {
      if (!p.contains("address")) continue;
      pcs.push_back(std::stoull(p["address"].get<std::string>(), nullptr, 16));
      names.push_back(p["function"]);
    }
    ASSERT_GE(pcs.size(), 8u);
    auto want = testing::go_addr2line(compile, pcs);
    for (std::size_t i = 0; i < pcs.size(); ++i) EXPECT_EQ(want[i].function, names[i]);
  }
}

TEST(Verbs, SymbolizeOnTheToolchainsCompilersMatchesAddr2line) {
  for (const auto& compile : toolchain_compilers()) {
    SCOPED_TRACE(compile);
    auto bin = GoBinary::open(compile);
    ASSERT_TRUE(bin) << bin.error().message;
    const Pclntab& t = (*bin)->pclntab();
    std::vector<std::uint64_t> pcs;
    std::vector<std::string> args = {"symbolize", "--exe", compile};
    for (std::size_t k = 0; k < 500; ++k) {
      std::size_t i = k * t.num_functions() / 500;
      pcs.push_back(t.entry(i) + (t.end(i) - t.entry(i)) * (k % 7) / 8);
      args.push_back(to_hex(pcs.back()));
    }
    auto j = run_json(args);
    auto want = testing::go_addr2line(compile, pcs);
    ASSERT_EQ(j.size(), pcs.size());
    for (std::size_t i = 0; i < pcs.size(); ++i) {
      const auto& frames = j[i]["frames"];
      ASSERT_FALSE(frames.empty()) << to_hex(pcs[i]);
      EXPECT_EQ(frames.back()["function"], want[i].function) << to_hex(pcs[i]);
      std::string line = frames.front()["file"].get<std::string>() + ":" +
                         std::to_string(frames.front()["line"].get<int>());
      if (line == "?:-1" && want[i].file_line.rfind(":-", 0) == 0) continue;  // no position
      EXPECT_EQ(line, want[i].file_line) << to_hex(pcs[i]);
    }
  }
}

TEST(Verbs, SymbolizeWithPidTakesOffThePieLoadBias) {
  for (const auto& f : testing::all_fixtures("inline")) {
    if (f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    auto p = testing::LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(p) << p.error().message;
    // The first site's return address and the frames the runtime gave for it.
    std::istringstream in((*p)->output());
    std::string line, pc;
    std::vector<std::string> want;
    while (std::getline(in, line)) {
      if (line.rfind("site ", 0) == 0 && pc.empty()) pc = line.substr(line.rfind(' ') + 1);
      else if (line.rfind("frame ", 0) == 0 && want.size() < 8 && !pc.empty()) want.push_back(line.substr(6));
      else if (line == "end" && !pc.empty()) break;
    }
    ASSERT_FALSE(pc.empty());
    auto call = to_hex(std::stoull(pc, nullptr, 16) - 1);
    auto j = run_json({"symbolize", "--pid", std::to_string((*p)->pid()), call});
    std::vector<std::string> got;
    for (const auto& fr : j[0]["frames"])
      got.push_back(fr["function"].get<std::string>() + " " + fr["file"].get<std::string>() + ":" +
                    std::to_string(fr["line"].get<int>()));
    EXPECT_EQ(got, want);
  }
}

TEST(Verbs, AMissingPidIsOneClearSentence) {
  std::ifstream max("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  max >> pid_max;
  std::string pid = std::to_string(pid_max + 1);  // can never exist
  for (const char* verb : {"info", "symbolize"}) {
    std::vector<std::string> argv = {testing::goscry_binary(), verb, "--pid", pid};
    if (std::string(verb) == "symbolize") argv.push_back("0x401000");
    auto r = run_command(argv);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err, std::string("goscry ") + verb + ": no process with pid " + pid + "\n");
  }
}

TEST(Verbs, ANonGoBinaryIsOneClearSentence) {
  auto r = run_command({testing::goscry_binary(), "symbolize", "--exe", "/bin/ls", "0x1000"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "goscry symbolize: /bin/ls: not a Go binary (no .gopclntab, no .go.buildinfo)\n");
  auto i = run_command({testing::goscry_binary(), "info", "--exe", "/bin/ls"});
  EXPECT_NE(i.exit_code, 0);
  EXPECT_EQ(i.err, "goscry info: /bin/ls: not a Go binary (no .gopclntab, no .go.buildinfo)\n");
}

}  // namespace
}  // namespace goscry
