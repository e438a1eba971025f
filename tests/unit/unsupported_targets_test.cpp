// Targets goscry cannot read are refused with one sentence that says why, by every verb and
// by the agent, instead of being read with the wrong layouts: a GOARCH=386 program gave
// "0 goroutines", "0 live" and an agent exporting zeros. The fixture is hello built for
// GOARCH=386 (scripts/build-fixtures.sh); the oracle for what it is: its ELF header read
// here byte by byte, and the program running (a real 386 process, not just a file).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;

std::string fixture_dir() {
  const char* dir = std::getenv("GOSCRY_FIXTURE_DIR");
  return dir ? dir : GOSCRY_FIXTURE_DIR;
}

constexpr const char* kWhy =
    "a GOARCH=386 (32-bit) program; goscry reads 64-bit Go programs of its own architecture "
    "(amd64) only";

TEST(UnsupportedTargets, A386ProgramIsRefusedWithOneSentenceByVerbsAndTheAgent) {
  const std::string exe = fixture_dir() + "/unsupported/hello-386";
  ASSERT_TRUE(std::filesystem::exists(exe)) << exe << " not built";
  std::ifstream in(exe, std::ios::binary);
  unsigned char header[20] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  ASSERT_EQ(header[4], 1) << "EI_CLASS: not ELFCLASS32";
  ASSERT_EQ(header[18], 3) << "e_machine: not EM_386";
  HeldProcess target({exe, "wait"});
  const std::string pid = std::to_string(target.pid());
  ASSERT_TRUE(poll_until([&] {
    std::error_code ec;
    return std::filesystem::read_symlink("/proc/" + pid + "/exe", ec).string() == exe;
  }));

  for (const std::vector<std::string>& verb : std::vector<std::vector<std::string>>{
           {"dump", "--pid", pid}, {"info", "--pid", pid}, {"info", "--exe", exe}}) {
    std::vector<std::string> argv = {"timeout", "20", goscry_binary()};
    argv.insert(argv.end(), verb.begin(), verb.end());
    auto r = run_command(argv);
    EXPECT_NE(r.exit_code, 0) << verb[0] << ": " << r.out;
    EXPECT_NE(r.err.find(kWhy), std::string::npos) << verb[0] << " " << verb[1] << ": " << r.err;
  }

  AgentProcess agent({"--no-bpf", "--pid", pid});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  EXPECT_TRUE(poll_until([&] { return agent.log().find(kWhy) != std::string::npos; }, 15s))
      << agent.log();
  auto targets = http_get(agent.url("/api/v1/targets"));
  EXPECT_EQ(targets.body.find("\"pid\":" + pid), std::string::npos)
      << "tracked as a target: " << targets.body;
}

}  // namespace
}  // namespace goscry::testing
