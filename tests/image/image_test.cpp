// The container image as shipped: built from the Dockerfile by scripts/build-image.sh
// (buildah, base from debootstrap) as a manifest list for linux/amd64 and linux/arm64, then
// each image looked at and the amd64 one's binary run inside it. Label `image`, built only
// with -DGOSCRY_IMAGE_TESTS=ON: a build from nothing takes ~10 minutes on 2 cores.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

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

// e_machine of an ELF file (little-endian, offset 18): 62 x86-64, 183 AArch64; 0 if not ELF.
uint16_t elf_machine(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char h[20] = {};
  if (!in.read(reinterpret_cast<char*>(h), sizeof h)) return 0;
  if (h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F' || h[5] != 1) return 0;
  return static_cast<uint16_t>(h[18] | h[19] << 8);
}

TEST(Image, ManifestListHoldsAmd64AndArm64AndEachImageHoldsItsBinaryAlone) {
  if (getuid() != 0) GTEST_SKIP() << "buildah with vfs storage and chroot isolation needs root";
  const std::string image = "localhost/goscry:test-" + std::to_string(getpid());
  auto build = run_command({source_dir() + "/scripts/build-image.sh", image});
  ASSERT_EQ(build.exit_code, 0) << build.out << build.err;

  auto manifest = buildah({"manifest", "inspect", image});
  ASSERT_EQ(manifest.exit_code, 0) << manifest.err;
  EXPECT_NE(manifest.out.find("\"architecture\": \"amd64\""), std::string::npos) << manifest.out;
  EXPECT_NE(manifest.out.find("\"architecture\": \"arm64\""), std::string::npos) << manifest.out;

  std::vector<std::string> instances;  // `manifest rm` leaves them
  for (auto [arch, machine] : {std::pair{"amd64", 62}, std::pair{"arm64", 183}}) {
    SCOPED_TRACE(arch);
    // From the list, the instance of that architecture.
    auto from = buildah({"from", "--pull=never", "--arch", arch, image});
    ASSERT_EQ(from.exit_code, 0) << from.err;
    std::string c = trim(from.out);
    auto config = buildah({"inspect", "--format", "{{.OCIv1.Architecture}}", c});
    EXPECT_EQ(trim(config.out), arch);
    instances.push_back(trim(buildah({"inspect", "--format", "{{.FromImageID}}", c}).out));
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
      // Every file is the image's architecture: the binary, its libraries, the loader.
      EXPECT_EQ(elf_machine(e.path()), machine) << e.path();
    }
    EXPECT_GT(files, 1u);
    EXPECT_FALSE(std::filesystem::exists(root / "bin/sh"));
    buildah({"umount", c});

    // This machine runs the amd64 binary only (no qemu-user binfmt handler is assumed).
    if (std::string(arch) == "amd64") {
      auto version =
          buildah({"run", "--isolation", "chroot", c, "--", "/usr/bin/goscry", "--version"});
      auto local = run_command({goscry_binary(), "--version"});
      EXPECT_EQ(version.exit_code, 0) << version.err;
      EXPECT_EQ(version.out, local.out);
    }
    buildah({"rm", c});
  }
  buildah({"manifest", "rm", image});
  for (const auto& id : instances) buildah({"rmi", id});
}

}  // namespace
}  // namespace goscry::testing
