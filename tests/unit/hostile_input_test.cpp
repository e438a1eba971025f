// Files named on the command line as a careless or hostile user names them: /dev/zero (never
// ends), a FIFO (blocks open and read), a directory (reads as nothing). Each verb and the
// agent refuse them at once with one sentence naming the file and what it is, instead of
// growing without bound, hanging, or running silently with defaults. Every command runs under
// timeout(1), so a regression fails instead of hanging the suite.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;

class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("goscry-hostile-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    fifo_ = (dir_ / "fifo").string();
    ASSERT_EQ(mkfifo(fifo_.c_str(), 0600), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // What each kind of file is called in the refusal.
  std::vector<std::pair<std::string, std::string>> hostile_files() const {
    return {{"/dev/zero", "a character device, not a regular file"},
            {fifo_, "a FIFO, not a regular file"},
            {dir_.string(), "a directory, not a regular file"}};
  }

  std::filesystem::path dir_;
  std::string fifo_;
};

TEST_F(HostileInput, TheAgentRefusesConfigFilesThatAreNotRegularFiles) {
  for (const auto& [flag, label] : std::vector<std::pair<std::string, std::string>>{
           {"--config", "--config"}, {"--web.config.file", "web config file"}}) {
    for (const auto& [file, why] : hostile_files()) {
      AgentProcess agent({"--no-bpf", flag, file});
      auto status = agent.wait_exit(10s);
      ASSERT_TRUE(status.has_value()) << flag << " " << file << ": still running\n" << agent.log();
      EXPECT_EQ(*status, 2) << flag << " " << file;
      EXPECT_NE(agent.log().find(label + " " + file + ": " + why), std::string::npos)
          << agent.log();
    }
  }
}

TEST_F(HostileInput, AConfigFileOfManyMegabytesIsRefusedNotRead) {
  const std::string big = (dir_ / "big.yml").string();
  std::ofstream(big).close();
  std::filesystem::resize_file(big, 64u << 20);  // sparse: 64 MiB of zeros
  AgentProcess agent({"--no-bpf", "--config", big});
  EXPECT_EQ(agent.wait_exit(10s), 2);
  EXPECT_NE(agent.log().find("--config " + big + ": larger than"), std::string::npos)
      << agent.log();
}

TEST_F(HostileInput, VerbsRefuseAnExeThatIsNotARegularFile) {
  for (const auto& verb : {"info", "symbolize"}) {
    for (const auto& [file, why] : hostile_files()) {
      std::vector<std::string> argv = {"timeout", "10", goscry_binary(), verb, "--exe", file};
      if (std::string(verb) == "symbolize") argv.push_back("0x401000");
      auto r = run_command(argv);
      EXPECT_NE(r.exit_code, 124) << verb << " --exe " << file << " hung";
      EXPECT_NE(r.exit_code, 0) << verb << " --exe " << file;
      EXPECT_NE(r.err.find(file + ": " + why), std::string::npos) << verb << ": " << r.err;
    }
  }
}

}  // namespace
}  // namespace goscry::testing
