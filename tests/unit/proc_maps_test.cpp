#include "symbolizer/proc_maps.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::LiveProcess;

TEST(ProcMaps, ParsesEveryLineLikeSscanf) {
  auto fixtures = all_fixtures("cgo_native");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    if (f.variant != "cgo" && f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(proc) << proc.error().message;
    // One read of the file for both sides: the runtime may still map memory (thread stacks,
    // arenas) while it starts, so two reads can differ by a line.
    std::ifstream file("/proc/" + std::to_string((*proc)->pid()) + "/maps");
    std::stringstream text;
    text << file.rdbuf();
    auto maps = ProcMaps::parse(text.str(), (*proc)->pid());
    ASSERT_TRUE(maps) << maps.error().message;

    // The oracle: the format of proc(5) read with sscanf, line by line.
    std::istringstream in(text.str());
    std::size_t i = 0;
    for (std::string line; std::getline(in, line); ++i) {
      ASSERT_LT(i, maps->mappings().size());
      const Mapping& m = maps->mappings()[i];
      std::uint64_t start, end, offset, inode;
      char perms[8], dev[16];
      int path_at = 0;
      ASSERT_EQ(
          std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %15s %" SCNu64 " %n",
                      &start, &end, perms, &offset, dev, &inode, &path_at),
          6);
      EXPECT_EQ(m.start, start);
      EXPECT_EQ(m.end, end);
      EXPECT_EQ(m.perms, perms);
      EXPECT_EQ(m.offset, offset);
      EXPECT_EQ(m.dev, dev);
      EXPECT_EQ(m.inode, inode);
      EXPECT_EQ(m.path, line.substr(path_at));
      EXPECT_EQ(maps->find(start), &m);
      EXPECT_EQ(maps->find(end - 1), &m);
    }
    EXPECT_EQ(i, maps->mappings().size());
    EXPECT_EQ(maps->find(0), nullptr);
  }
}

TEST(ProcMaps, RelocatesRuntimeAddressesToElfVaddrsLikeGoToolNm) {
  auto fixtures = all_fixtures("cgo_native");
  ASSERT_FALSE(fixtures.empty());
  bool saw_bias = false;
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(proc) << proc.error().message;
    // main.main as the program itself sees it, and as the file says it is.
    std::uint64_t runtime_pc = testing::printed_address((*proc)->output(), "func main.main");
    // A stripped binary has no symbols for nm; -s -w leaves the loaded layout of its
    // plain twin unchanged.
    std::string nm_binary = f.path;
    if (f.variant == "stripped") nm_binary.replace(nm_binary.size() - 8, 8, "plain");
    std::uint64_t elf_vaddr = testing::go_nm_address(nm_binary, "main.main");

    auto maps = ProcMaps::read((*proc)->pid());
    ASSERT_TRUE(maps) << maps.error().message;
    const Mapping* m = maps->find(runtime_pc);
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(m->executable());
    auto elf = ElfFile::open(maps->host_path(*m));
    ASSERT_TRUE(elf) << elf.error().message;
    auto where = maps->module_address(runtime_pc, elf->get());
    ASSERT_TRUE(where) << where.error().message;
    EXPECT_EQ(where->path, std::filesystem::canonical(f.path).string());
    EXPECT_EQ(where->elf_vaddr, elf_vaddr);
    if (f.variant == "pie") {
      EXPECT_NE(runtime_pc, elf_vaddr) << "a PIE binary should be loaded at a bias";
      saw_bias = true;
    }
  }
  EXPECT_TRUE(saw_bias) << "no pie fixture was built";
}

TEST(ProcMaps, PseudoAndAnonymousMappingsAreNotModules) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.front().path, "wait"});
  ASSERT_TRUE(proc) << proc.error().message;
  auto maps = ProcMaps::read((*proc)->pid());
  ASSERT_TRUE(maps) << maps.error().message;
  int pseudo = 0, anonymous = 0;
  for (const auto& m : maps->mappings()) {
    if (m.file_backed()) continue;
    auto r = maps->module_address(m.start);
    ASSERT_FALSE(r);
    if (m.path == "[stack]" || m.path == "[vdso]") {
      ++pseudo;
      EXPECT_EQ(r.error().message,
                "address " + to_hex(m.start) + " is in " + m.path + ", not in a file");
    } else if (m.path.empty()) {
      ++anonymous;
      EXPECT_EQ(r.error().message,
                "address " + to_hex(m.start) + " is in anonymous memory, not in a file");
    }
  }
  EXPECT_EQ(pseudo, 2) << "expected one [stack] and one [vdso]";
  EXPECT_GT(anonymous, 0) << "a Go program has anonymous heap arenas";

  auto unmapped = maps->module_address(8);
  ASSERT_FALSE(unmapped);
  EXPECT_EQ(unmapped.error().message,
            "address 0x8 is not mapped in process " + std::to_string((*proc)->pid()));
}

TEST(ProcMaps, OpensDeletedBinariesThroughMapFiles) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto original = ElfFile::open(fixtures.front().path);
  ASSERT_TRUE(original);
  std::string copy = ::testing::TempDir() + "/goscry-deleted-" + std::to_string(getpid());
  std::filesystem::copy_file(fixtures.front().path, copy,
                             std::filesystem::copy_options::overwrite_existing);
  auto proc = LiveProcess::start({copy, "wait"});
  ASSERT_TRUE(proc) << proc.error().message;
  std::filesystem::remove(copy);

  auto maps = ProcMaps::read((*proc)->pid());
  ASSERT_TRUE(maps) << maps.error().message;
  auto exe = maps->mappings_of(std::filesystem::weakly_canonical(copy).string());
  ASSERT_FALSE(exe.empty());
  EXPECT_TRUE(exe.front()->deleted());
  std::string host = maps->host_path(*exe.front());
  EXPECT_NE(host.find("/map_files/"), std::string::npos) << host;
  auto elf = ElfFile::open(host);
  ASSERT_TRUE(elf) << elf.error().message;
  EXPECT_EQ((*elf)->go_build_id(), (*original)->go_build_id());
}

TEST(ProcMaps, MissingProcessAndGarbageGiveErrors) {
  std::ifstream pid_max_file("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  pid_max_file >> pid_max;
  ASSERT_GT(pid_max, 0);
  auto missing = ProcMaps::read(static_cast<pid_t>(pid_max + 1));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no process with pid " + std::to_string(pid_max + 1));

  auto garbage =
      ProcMaps::parse("00400000-00452000 r-xp 00000000 fd:01 12 /bin/x\nnot a line\n", 1);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().message, "line 2: bad address range");
  auto backwards = ProcMaps::parse("2000-1000 r-xp 0 fd:01 12 /bin/x\n", 1);
  EXPECT_FALSE(backwards);
}

}  // namespace
}  // namespace goscry
