// Wrapper elision against the target's own runtime: the gowrap fixture starts goroutines
// with `go f(args)`, `go x.M(args)`, a method value, an interface method and a standard
// library call — each through a compiler-written wrapper closure the runtime's traceback
// leaves out — and prints its own runtime.Stack(all). goscry dump must print the same frames
// (function, file:line, +0x offset) and creators for every goroutine, on every toolchain
// and variant; and for goroutines that never started, the wrapper and runtime.goexit({})
// that Go prints for them.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/support/fixtures.h"
#include "tests/support/go_traceback.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::LiveProcess;
using testing::oracle_traceback;
using testing::parse_traceback;
using testing::run_command;

struct Compared {
  int goroutines = 0;
  int equal = 0;
};

// Every goroutine of the oracle but those running when either side read it: the frames
// and creator of each must be the same, byte for byte but the arguments.
Compared compare(const std::string& label, const std::string& oracle_text,
                 const std::string& dump_text, bool unstarted) {
  Compared c;
  const auto oracle = parse_traceback(oracle_text);
  const auto dump = parse_traceback(dump_text);
  EXPECT_GE(oracle.size(), 10u) << label << ": oracle:\n" << oracle_text;
  for (const auto& [id, want] : oracle) {
    if (want.state == "running") continue;  // the goroutine that printed the oracle
    auto it = dump.find(id);
    if (it != dump.end() && it->second.state == "running") continue;  // the spinner
    SCOPED_TRACE(label + " goroutine " + std::to_string(id));
    ++c.goroutines;
    if (it == dump.end()) {
      ADD_FAILURE() << "missing from the dump:\n" << dump_text;
      continue;
    }
    const bool same = it->second.frames == want.frames &&
                      it->second.created_by == want.created_by &&
                      it->second.created_at == want.created_at;
    c.equal += same;
    EXPECT_EQ(it->second.frames, want.frames) << "dump:\n" << dump_text;
    EXPECT_EQ(it->second.created_by, want.created_by);
    EXPECT_EQ(it->second.created_at, want.created_at);
    // A goroutine not started shows its wrapper (nothing else would be left): see below.
    if (!unstarted) {
      for (const auto& f : it->second.functions)
        EXPECT_EQ(f.find("gowrap"), std::string::npos) << "a wrapper the runtime elides: " << f;
    }
  }
  return c;
}

void run(const std::vector<std::string>& extra, bool expect_goexit) {
  auto fixtures = all_fixtures("gowrap");
  ASSERT_FALSE(fixtures.empty()) << "no gowrap fixtures were built";
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    std::vector<std::string> argv = {f.path};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto proc = LiveProcess::start(argv);
    ASSERT_TRUE(proc) << proc.error().message;
    const std::string oracle = oracle_traceback((*proc)->output());
    auto r = run_command({testing::goscry_binary(), "dump", "--pid",
                          std::to_string((*proc)->pid())});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const Compared c = compare(f.label(), oracle, r.out, expect_goexit);
    std::printf("%s %s: %d goroutines compared, %d stacks equal\n", f.label().c_str(),
                extra.empty() ? "" : extra[0].c_str(), c.goroutines, c.equal);
    if (expect_goexit) {
      // Byte for byte, arguments included: "runtime.goexit({})", or "()" where the
      // toolchain (1.19) gave goexit no argument info.
      const auto goexit = oracle.find("runtime.goexit(");
      ASSERT_NE(goexit, std::string::npos) << oracle;
      const std::string line = oracle.substr(goexit, oracle.find('\n', goexit) - goexit);
      EXPECT_NE(r.out.find(line + "\n"), std::string::npos) << line << "\n" << r.out;
    }
  }
}

TEST(GoroutineWrappers, DumpLeavesOutTheGoStatementWrappersLikeTheRuntime) { run({}, false); }

// Goroutines created and never run: Go prints their wrapper (at its entry, no offset) and
// runtime.goexit +0x1, since hiding both would leave no frame at all.
TEST(GoroutineWrappers, GoroutinesNotStartedShowTheirWrapperAndGoexitLikeTheRuntime) {
  run({"-unstarted"}, true);
}

}  // namespace
}  // namespace goscry
