#include "symbolizer/binary_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "symbolizer/native_symbols.h"
#include "symbolizer/process.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

namespace fs = std::filesystem;
using testing::all_fixtures;

// A payload that records how often it was built: the cache's whole point is to build it
// once per binary.
struct Counted {
  std::string path;
};

class BinaryCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("goscry-cache-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string copy(const std::string& from, const std::string& name) {
    fs::path to = dir_ / name;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    return to.string();
  }

  BinaryCache<Counted>::Factory counting_factory() {
    return [this](std::shared_ptr<const ElfFile> elf) -> Result<std::shared_ptr<const Counted>> {
      ++builds_;
      return std::make_shared<const Counted>(Counted{elf->path()});
    };
  }

  fs::path dir_;
  std::atomic<int> builds_{0};
};

TEST_F(BinaryCacheTest, OneEntryPerBuildIdWhateverThePath) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  // Two copies of one binary: two paths and inodes, as in two containers.
  std::string a = copy(fixtures.front().path, "a");
  std::string b = copy(fixtures.front().path, "b");
  BinaryCache<Counted> cache(8, counting_factory());
  auto ea = cache.get(a);
  ASSERT_TRUE(ea) << ea.error().message;
  auto eb = cache.get(b);
  ASSERT_TRUE(eb) << eb.error().message;
  auto ea2 = cache.get(a);
  ASSERT_TRUE(ea2);
  EXPECT_EQ(builds_, 1);
  EXPECT_EQ(ea->payload, eb->payload);
  EXPECT_EQ(ea->payload, ea2->payload);
  auto elf = ElfFile::open(a);
  ASSERT_TRUE(elf);
  // Go binaries built internally have only Go's build ID; cgo ones a GNU build-id.
  std::string id = (*elf)->build_id() ? "build-id:" + *(*elf)->build_id()
                                      : "go-build-id:" + *(*elf)->go_build_id();
  EXPECT_EQ(ea->key, id + ":" + std::to_string(fs::file_size(a)));
  auto s = cache.stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.entries, 1u);
}

TEST_F(BinaryCacheTest, WithoutBuildIdKeysByPathInodeAndMtime) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  std::string plain = copy(fixtures.front().path, "with-ids");
  std::string no_ids = (dir_ / "no-ids").string();
  auto r = testing::run_command({"objcopy", "--remove-section=.note.go.buildid",
                                 "--remove-section=.note.gnu.build-id", plain, no_ids});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  BinaryCache<Counted> cache(8, counting_factory());
  auto first = cache.get(no_ids);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->key.starts_with("file:" + no_ids + ":")) << first->key;
  ASSERT_TRUE(cache.get(no_ids));
  EXPECT_EQ(builds_, 1);

  // Touched (a new mtime): maybe another binary now, so it is read again.
  timespec times[2] = {{0, UTIME_NOW}, {12345, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, no_ids.c_str(), times, 0), 0);
  auto second = cache.get(no_ids);
  ASSERT_TRUE(second);
  EXPECT_NE(second->key, first->key);
  EXPECT_EQ(builds_, 2);
}

TEST_F(BinaryCacheTest, EvictsTheLeastRecentlyUsed) {
  auto fixtures = all_fixtures();
  std::vector<std::string> paths;
  for (const auto& f : fixtures)
    if (f.go_version == fixtures.front().go_version && paths.size() < 3) paths.push_back(f.path);
  ASSERT_EQ(paths.size(), 3u);
  BinaryCache<Counted> cache(2, counting_factory());
  ASSERT_TRUE(cache.get(paths[0]));
  ASSERT_TRUE(cache.get(paths[1]));
  ASSERT_TRUE(cache.get(paths[0]));  // now paths[1] is the oldest
  ASSERT_TRUE(cache.get(paths[2]));  // evicts paths[1]
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.stats().entries, 2u);
  ASSERT_TRUE(cache.get(paths[0]));
  EXPECT_EQ(builds_, 3);
  ASSERT_TRUE(cache.get(paths[1]));  // rebuilt
  EXPECT_EQ(builds_, 4);
}

// symbol_cache_mib: entries weighed (here by their file's size, from stat) beyond the byte
// budget go least recently used first; one entry over the whole budget is still served.
TEST_F(BinaryCacheTest, EvictsTheLeastRecentlyUsedBeyondItsByteBudget) {
  auto fixtures = all_fixtures();
  std::vector<std::string> paths;
  for (const auto& f : fixtures)
    if (f.go_version == fixtures.front().go_version && paths.size() < 3) paths.push_back(f.path);
  ASSERT_EQ(paths.size(), 3u);
  auto size = [](const std::string& p) { return std::uint64_t(fs::file_size(p)); };
  BinaryCache<Counted> cache(64, counting_factory(),
                             [&](const Counted& c) { return size(c.path); });
  cache.set_budget_bytes(size(paths[0]) + size(paths[1]));
  ASSERT_TRUE(cache.get(paths[0]));
  ASSERT_TRUE(cache.get(paths[1]));
  EXPECT_EQ(cache.stats().bytes, size(paths[0]) + size(paths[1]));
  ASSERT_TRUE(cache.get(paths[0]));  // now paths[1] is the oldest
  ASSERT_TRUE(cache.get(paths[2]));  // over the budget: paths[1] goes, then what else must
  const auto s = cache.stats();
  EXPECT_GE(s.evictions, 1u);
  EXPECT_LE(s.bytes, s.budget_bytes);
  ASSERT_TRUE(cache.get(paths[2]));
  EXPECT_EQ(builds_, 3);  // paths[2] stayed: the newest is never the one evicted
  // A budget below any one binary: the newest is kept, everything else goes at once.
  cache.set_budget_bytes(1);
  EXPECT_EQ(cache.stats().entries, 1u);
  ASSERT_TRUE(cache.get(paths[2]));
  EXPECT_EQ(builds_, 3);
}

TEST_F(BinaryCacheTest, ErrorsAreCountedAndReturned) {
  BinaryCache<Counted> cache(2, counting_factory());
  auto missing = cache.get("/nonexistent/goscry-binary");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "/nonexistent/goscry-binary: No such file or directory");
  std::string text = (dir_ / "not-elf").string();
  FILE* f = std::fopen(text.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("#!/bin/sh\necho this is not an ELF file\n", f);
  std::fclose(f);
  auto bad = cache.get(text);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, text + ": not an ELF file");

  BinaryCache<Counted> failing(
      2, [](std::shared_ptr<const ElfFile>) -> Result<std::shared_ptr<const Counted>> {
        return fail(ErrorKind::Unsupported, "not a Go binary (no .gopclntab, no .go.buildinfo)");
      });
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto refused = failing.get(fixtures.front().path);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            fixtures.front().path + ": not a Go binary (no .gopclntab, no .go.buildinfo)");
  EXPECT_EQ(cache.stats().errors, 2u);
  EXPECT_EQ(failing.stats().errors, 1u);
  EXPECT_EQ(failing.stats().entries, 0u);
}

TEST_F(BinaryCacheTest, ConcurrentLookupsShareOnePayloadPerBinary) {
  auto fixtures = all_fixtures();
  ASSERT_GE(fixtures.size(), 2u);
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < 4 && i < fixtures.size(); ++i) paths.push_back(fixtures[i].path);
  // Native symbol tables, as the agent caches for libc and cgo code.
  BinaryCache<NativeSymbols> cache(
      16, [](std::shared_ptr<const ElfFile> elf) -> Result<std::shared_ptr<const NativeSymbols>> {
        return std::make_shared<const NativeSymbols>(elf);
      });
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const int per_thread = 500;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto e = cache.get(paths[(i + t) % paths.size()]);
        if (!e || e->payload->elf() != e->elf) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  auto s = cache.stats();
  EXPECT_EQ(s.hits + s.misses, 4u * per_thread);
  EXPECT_LE(s.entries, paths.size());
  // Racing first lookups may each build a payload, but every later one hits.
  EXPECT_LE(s.misses, 4u * paths.size());
}

TEST_F(BinaryCacheTest, CachesALiveProcessExecutable) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto live = testing::LiveProcess::start({fixtures.front().path, "wait"});
  ASSERT_TRUE(live) << live.error().message;
  auto proc = Process::attach_readonly((*live)->pid());
  ASSERT_TRUE(proc) << proc.error().message;
  BinaryCache<Counted> cache(4, counting_factory());
  auto through_proc = cache.get((*proc)->exe_host_path());
  ASSERT_TRUE(through_proc) << through_proc.error().message;
  auto direct = cache.get(fixtures.front().path);
  ASSERT_TRUE(direct);
  // Same file: /proc/PID/root/<path> has the same device and inode.
  EXPECT_EQ(direct->payload, through_proc->payload);
  EXPECT_EQ(builds_, 1);
}

}  // namespace
}  // namespace goscry
