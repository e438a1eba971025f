// Output files under attack and careless use: a symlink planted where goscry used to put its
// temp file (OUT.tmp, opened with O_CREAT|O_TRUNC, so the link's target was overwritten),
// and paths that cannot be written, which must fail a verb before its work, not after a
// whole recording.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "symbolizer/output_file.h"
#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string contents(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class OutputFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("goscry-out-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "victim") << "precious";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(OutputFile, APlantedSymlinkAtTheOldTempNameIsNotFollowed) {
  const fs::path out = dir_ / "profile.pb.gz";
  fs::create_symlink(dir_ / "victim", dir_ / "profile.pb.gz.tmp");
  auto w = write_output_file(out.string(), "new bytes");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(contents(dir_ / "victim"), "precious");
  EXPECT_EQ(contents(out), "new bytes");
  EXPECT_FALSE(fs::is_symlink(out));
  // Nothing else left beside it: the victim, the planted link, the output.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 3);
}

TEST_F(OutputFile, AnOutputThatIsASymlinkIsReplacedNotWrittenThrough) {
  const fs::path out = dir_ / "out.svg";
  fs::create_symlink(dir_ / "victim", out);
  ASSERT_TRUE(write_output_file(out.string(), "<svg/>"));
  EXPECT_EQ(contents(dir_ / "victim"), "precious");
  EXPECT_EQ(contents(out), "<svg/>");
}

TEST_F(OutputFile, UnusablePathsAreNamedWithTheirCause) {
  auto missing = check_output_path("/nonexistent-goscry/x.pb.gz", "--output");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "--output /nonexistent-goscry/x.pb.gz: directory /nonexistent-goscry: No such file "
            "or directory");
  auto dir = check_output_path(dir_.string(), "--output");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message, "--output " + dir_.string() + ": is a directory");
  auto device = check_output_path("/dev/null", "--output");
  ASSERT_FALSE(device);
  EXPECT_EQ(device.error().message, "--output /dev/null: exists and is not a regular file");
  EXPECT_TRUE(check_output_path((dir_ / "fine.pb.gz").string(), "--output"));
  EXPECT_FALSE(fs::exists(dir_ / "fine.pb.gz"));
}

// Each verb that writes a file refuses an unusable path at once: before, `record -o
// /nonexistent/x -d 10s` recorded for 10 s and then failed.
TEST_F(OutputFile, VerbsFailFastOnAnUnusableOutputPath) {
  HeldProcess target({hello_fixture(), "wait"});
  const std::string pid = std::to_string(target.pid());
  const std::string bad = "/nonexistent-goscry/out";
  const std::vector<std::vector<std::string>> verbs = {
      {"record", "--pid", pid, "-d", "20s", "-o", bad + ".pb.gz"},
      {"leaks", "--pid", pid, "-d", "20s", "--leak-profile", bad + ".pb.gz"},
      {"dump", "--pid", pid, "-o", bad + ".txt"},
      {"heap", "--pid", pid, "--seconds", "20", "-o", bad + ".pb.gz"},
  };
  for (const auto& args : verbs) {
    std::vector<std::string> argv = {"timeout", "15", goscry_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto start = std::chrono::steady_clock::now();
    auto r = run_command(argv);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(bad), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
    EXPECT_LT(took, 5s) << args[0] << " did its work before failing";
  }
}

}  // namespace
}  // namespace goscry::testing
