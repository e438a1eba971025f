// One load bias for every consumer: symbolization (ProcessSymbolizer's maps), the probes
// (attach by pid) and the goroutine reader (GoProcess), checked against the fixture's own
// answer: the address Go's reflect gives main.main minus the one `go tool nm` gives it in
// the file. Also for an executable deleted while it runs (a binary replaced by a deploy).
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/go_target.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/process_symbolizer.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::LiveProcess;

// What the fixture says: its main.main at run time minus main.main in the file.
std::uint64_t printed_bias(const LiveProcess& proc, const testing::Fixture& f) {
  std::string nm_binary = f.path;
  if (f.variant == "stripped") nm_binary.replace(nm_binary.size() - 8, 8, "plain");
  return testing::printed_address(proc.output(), "func main.main") -
         testing::go_nm_address(nm_binary, "main.main");
}

// Every way goscry computes the bias of `pid`, which runs the file `f`, against `expected`.
void expect_one_bias(pid_t pid, const std::string& file, std::uint64_t expected) {
  auto elf = ElfFile::open(file);
  ASSERT_TRUE(elf) << elf.error().message;
  auto by_pid = load_bias(pid, **elf);
  ASSERT_TRUE(by_pid) << by_pid.error().message;
  EXPECT_EQ(*by_pid, expected) << "load_bias(pid, elf)";
  auto go = GoProcess::open(pid);
  ASSERT_TRUE(go) << go.error().message;
  EXPECT_EQ((*go)->bias(), expected) << "GoProcess";
  auto target = open_go_target(TargetOptions{.pid = pid, .exe = ""});
  ASSERT_TRUE(target) << target.error().message;
  EXPECT_EQ(target->bias, expected) << "GoTarget";
}

TEST(LoadBias, EveryConsumerGetsTheBiasTheProgramSees) {
  for (const auto& f : testing::all_fixtures("cgo_native")) {
    SCOPED_TRACE(f.label());
    auto live = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(live) << live.error().message;
    const std::uint64_t expected = printed_bias(**live, f);
    if (f.variant != "pie") {
      EXPECT_EQ(expected, 0u);
    }
    expect_one_bias((*live)->pid(), f.path, expected);
  }
}

TEST(LoadBias, HoldsForAnExecutableDeletedWhileItRuns) {
  for (const auto& f : testing::all_fixtures("cgo_native")) {
    if (f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    const auto copy = std::filesystem::path(::testing::TempDir()) / ("deleted-" + f.variant);
    std::filesystem::copy_file(f.path, copy, std::filesystem::copy_options::overwrite_existing);
    auto live = LiveProcess::start({copy.string(), "wait"});
    ASSERT_TRUE(live) << live.error().message;
    std::filesystem::remove(copy);
    const std::uint64_t expected = printed_bias(**live, f);
    expect_one_bias((*live)->pid(), f.path, expected);
  }
}

}  // namespace
}  // namespace goscry
