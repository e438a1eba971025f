// The container image as shipped: built from the Dockerfile by scripts/build-image.sh
// (buildah, base from debootstrap), then its binary run inside it. Label `image`, built
// only with -DGOSCRY_IMAGE_TESTS=ON: a build from nothing takes ~5 minutes on 2 cores.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/fixtures.h"

namespace goscry::testing {
namespace {

const std::vector<std::string> kBuildah = {"buildah", "--storage-driver", "vfs"};

CommandResult buildah(std::vector<std::string> args) {
  args.insert(args.begin(), kBuildah.begin(), kBuildah.end());
  return run_command(args);
}

std::string trim(std::string s) {
  while (!s.empty() && isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

TEST(Image, BinaryInTheImageRunsAndTheImageHoldsNothingElse) {
  if (getuid() != 0) GTEST_SKIP() << "buildah with vfs storage and chroot isolation needs root";
  const std::string image = "localhost/goscry:test-" + std::to_string(getpid());
  auto build = run_command({source_dir() + "/scripts/build-image.sh", image});
  ASSERT_EQ(build.exit_code, 0) << build.out << build.err;

  auto from = buildah({"from", "--pull=never", image});
  ASSERT_EQ(from.exit_code, 0) << from.err;
  std::string c = trim(from.out);
  // Slim: the binary, shared libraries and the loader; no shell, no package manager.
  // Looked at before `buildah run`, which adds /etc/hosts, resolv.conf and hostname.
  auto mount = buildah({"mount", c});
  ASSERT_EQ(mount.exit_code, 0) << mount.err;
  std::filesystem::path root = trim(mount.out);
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    ++files;
    std::string name = e.path().filename().string();
    bool ok = name == "goscry" || name.find(".so") != std::string::npos;
    EXPECT_TRUE(ok) << "unexpected file in the image: " << e.path();
  }
  EXPECT_GT(files, 1u);
  EXPECT_FALSE(std::filesystem::exists(root / "bin/sh"));
  buildah({"umount", c});

  auto version = buildah({"run", "--isolation", "chroot", c, "--", "/usr/bin/goscry", "--version"});
  auto local = run_command({goscry_binary(), "--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out, local.out);

  buildah({"rm", c});
  buildah({"rmi", image});
}

}  // namespace
}  // namespace goscry::testing
