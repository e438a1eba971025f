#include "symbolizer/process.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "tests/support/child.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::LiveProcess;
using testing::never_a_pid;

// The load bias of a running fixture, from the address it printed for main.main and the
// address `go tool nm` gives it in the file (0 unless PIE).
std::uint64_t load_bias(const LiveProcess& proc, const testing::Fixture& f) {
  std::string nm_binary = f.path;
  if (f.variant == "stripped") nm_binary.replace(nm_binary.size() - 8, 8, "plain");
  return testing::printed_address(proc.output(), "func main.main") - testing::go_nm_address(nm_binary, "main.main");
}

TEST(Process, AttachReadsExeAndComm) {
  for (const auto& f : all_fixtures("cgo_native")) {
    SCOPED_TRACE(f.label());
    auto live = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(live) << live.error().message;
    auto proc = Process::attach_readonly((*live)->pid());
    ASSERT_TRUE(proc) << proc.error().message;
    EXPECT_EQ((*proc)->exe_path(), std::filesystem::canonical(f.path).string());
    EXPECT_FALSE((*proc)->exe_deleted());
    // comm is the executable's name cut to 15 characters (TASK_COMM_LEN - 1).
    EXPECT_EQ((*proc)->comm(), std::filesystem::path(f.path).filename().string().substr(0, 15));
    EXPECT_TRUE((*proc)->alive());
    auto exe = ElfFile::open((*proc)->exe_host_path());
    auto file = ElfFile::open(f.path);
    ASSERT_TRUE(exe && file);
    EXPECT_EQ((*exe)->go_build_id(), (*file)->go_build_id());
  }
}

TEST(Process, ReadsTheSameBytesAsTheFileAtRelocatedAddresses) {
  for (const auto& f : all_fixtures("cgo_native")) {
    SCOPED_TRACE(f.label());
    auto live = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(live) << live.error().message;
    auto proc = Process::attach_readonly((*live)->pid());
    ASSERT_TRUE(proc) << proc.error().message;
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    std::uint64_t bias = load_bias(**live, f);
    if (f.variant != "pie") {
      EXPECT_EQ(bias, 0u);
    }
    // .rodata is never written, and .text only by a debugger: both must match the file.
    for (const char* name : {".rodata", ".text"}) {
      const ElfSection* s = (*elf)->section(name);
      ASSERT_NE(s, nullptr) << name;
      std::uint64_t len = std::min<std::uint64_t>(s->size, 4096);
      auto file_bytes = (*elf)->read_vaddr(s->addr, len);
      ASSERT_TRUE(file_bytes) << file_bytes.error().message;
      auto mem = (*proc)->read(s->addr + bias, len);
      ASSERT_TRUE(mem) << mem.error().message;
      EXPECT_TRUE(std::equal(mem->begin(), mem->end(), file_bytes->bytes().begin())) << name;
    }
    // read_u64 agrees with the file too.
    const ElfSection* rodata = (*elf)->section(".rodata");
    auto word = (*proc)->read_u64(rodata->addr + bias + 8);
    ASSERT_TRUE(word) << word.error().message;
    EXPECT_EQ(*word, *(*elf)->read_vaddr(rodata->addr + 8, 8)->u64(0));
  }
}

TEST(Process, BatchesManySmallReadsAndFailsOnlyTheUnmappedOnes) {
  auto fixtures = all_fixtures("cgo_native");
  ASSERT_FALSE(fixtures.empty());
  const auto& f = fixtures.front();
  auto live = LiveProcess::start({f.path, "wait"});
  ASSERT_TRUE(live) << live.error().message;
  auto proc = Process::attach_readonly((*live)->pid());
  ASSERT_TRUE(proc) << proc.error().message;
  auto elf = ElfFile::open(f.path);
  ASSERT_TRUE(elf);
  std::uint64_t bias = load_bias(**live, f);
  const ElfSection* rodata = (*elf)->section(".rodata");
  ASSERT_NE(rodata, nullptr);

  // 100,000 reads of 8 bytes, as the dump verb reads goroutines, with unmapped addresses
  // (page 0 and the last page of the address space) sprinkled in.
  const std::size_t n = 100000;
  std::vector<std::uint64_t> values(n, 0);
  std::vector<RemoteRead> reads(n);
  std::size_t words = rodata->size / 8;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t addr = rodata->addr + bias + 8 * ((i * 7919) % words);
    if (i % 10007 == 5) addr = 16 * i % 4096;
    if (i == n - 1) addr = 0xfffffffffffff000ull;
    reads[i] = {addr, 8, &values[i], false};
  }
  std::uint64_t before = (*proc)->syscalls();
  auto t0 = std::chrono::steady_clock::now();
  auto ok = (*proc)->read_batch(reads);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(ok) << ok.error().message;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bool unmapped = i % 10007 == 5 || i == n - 1;
    bad += unmapped;
    ASSERT_EQ(reads[i].ok, !unmapped) << i;
    if (unmapped) continue;
    auto expect = (*elf)->read_vaddr(reads[i].addr - bias, 8);
    ASSERT_TRUE(expect);
    ASSERT_EQ(values[i], *expect->u64(0)) << i;
  }
  EXPECT_EQ(*ok, n - bad);
  std::uint64_t calls = (*proc)->syscalls() - before;
  // One process_vm_readv per 1,024 reads, plus at most two for each unmapped one.
  EXPECT_LE(calls, n / 1024 + 1 + 2 * bad);
  std::printf("read_batch: %zu reads of 8 bytes in %" PRIu64 " syscalls, %.2f ms\n", n, calls,
              std::chrono::duration<double, std::milli>(elapsed).count());
}

// Neighbouring reads merged into one remote range (merge_gap) give the same bytes and the
// same failures as separate reads, with fewer ranges for the kernel to pin.
TEST(Process, MergedNeighbouringReadsReadTheSameBytesAndFailTheSameOnes) {
  auto fixtures = all_fixtures("cgo_native");
  ASSERT_FALSE(fixtures.empty());
  auto live = LiveProcess::start({fixtures.front().path, "wait"});
  ASSERT_TRUE(live) << live.error().message;
  auto proc = Process::attach_readonly((*live)->pid());
  ASSERT_TRUE(proc) << proc.error().message;
  auto elf = ElfFile::open(fixtures.front().path);
  ASSERT_TRUE(elf);
  const std::uint64_t bias = load_bias(**live, fixtures.front());
  const ElfSection* rodata = (*elf)->section(".rodata");
  ASSERT_NE(rodata, nullptr);
  // 24 bytes every 40 (gaps of 16, like g structs in a span), every 97th read unmapped
  // (page 0: it starts a new range in the middle of a batch), and 3,000 reads: more than
  // one syscall's worth of iovecs once gaps take their own local iovec.
  const std::size_t n = 3000, stride = 40, len = 24;
  ASSERT_GT(rodata->size, n * stride);
  auto make = [&](std::vector<std::uint8_t>& bytes) {
    bytes.assign(n * len, 0);
    std::vector<RemoteRead> reads(n);
    for (std::size_t i = 0; i < n; ++i)
      reads[i] = {i % 97 == 50 ? 64 * i % 4096 : rodata->addr + bias + i * stride, len,
                  bytes.data() + i * len, false};
    return reads;
  };
  std::vector<std::uint8_t> one_by_one, merged;
  auto a = make(one_by_one), b = make(merged);
  ASSERT_TRUE((*proc)->read_batch(a));
  const std::uint64_t before = (*proc)->syscalls();
  auto ok = (*proc)->read_batch(b, 4095);
  ASSERT_TRUE(ok) << ok.error().message;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(b[i].ok, i % 97 != 50) << i;
    ASSERT_EQ(a[i].ok, b[i].ok) << i;
  }
  EXPECT_EQ(one_by_one, merged);
  auto expect = (*elf)->read_vaddr(rodata->addr + 0, len);
  ASSERT_TRUE(expect);
  EXPECT_TRUE(std::equal(merged.begin(), merged.begin() + len, expect->bytes().begin()));
  // Each unmapped read ends a syscall early and costs at most one more for itself.
  EXPECT_LE((*proc)->syscalls() - before, 2 * n / 1024 + 2 + 2 * (n / 97 + 1));
}

TEST(Process, MissingProcessIsOneClearError) {
  pid_t pid = never_a_pid();
  auto proc = Process::attach_readonly(pid);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().message, "no process with pid " + std::to_string(pid));
  auto zero = Process::attach_readonly(0);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().message, "no process with pid 0");
}

TEST(Process, UnmappedAndOversizedReadsAreErrors) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto live = LiveProcess::start({fixtures.front().path, "wait"});
  ASSERT_TRUE(live) << live.error().message;
  auto proc = Process::attach_readonly((*live)->pid());
  ASSERT_TRUE(proc) << proc.error().message;
  std::string p = "process " + std::to_string((*live)->pid());
  auto null = (*proc)->read_u64(0);
  ASSERT_FALSE(null);
  EXPECT_EQ(null.error().message, p + ": cannot read 8 bytes at 0x0: address not mapped");
  auto huge = (*proc)->read(0x400000, std::size_t(1) << 40);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().message.rfind(p + ": refusing to read 1099511627776 bytes", 0), 0u)
      << huge.error().message;
}

TEST(Process, ReadsOfAProcessThatExitedSaySo) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto live = LiveProcess::start({fixtures.front().path, "wait"});
  ASSERT_TRUE(live) << live.error().message;
  pid_t pid = (*live)->pid();
  auto proc = Process::attach_readonly(pid);
  ASSERT_TRUE(proc) << proc.error().message;
  auto maps = (*proc)->maps();
  ASSERT_TRUE(maps);
  std::uint64_t addr = maps->mappings().front().start;
  ASSERT_TRUE((*proc)->read_u64(addr));
  std::string exited = "process " + std::to_string(pid) + " exited";

  // Killed but not yet reaped: a zombie without an address space. A pidfd turns
  // readable when it exits, so there is nothing to sleep for.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  pollfd pfd{pidfd, POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1);
  close(pidfd);
  auto zombie = (*proc)->read_u64(addr);
  ASSERT_FALSE(zombie);
  EXPECT_EQ(zombie.error().message, exited);
  std::uint64_t v = 0;
  RemoteRead batch[2] = {{addr, 8, &v, false}, {addr + 8, 8, &v, false}};
  auto b = (*proc)->read_batch(batch);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, exited);

  // Reaped: the pid is gone.
  (*live)->kill();
  auto gone = (*proc)->read(addr, 64);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().message, exited);
  EXPECT_FALSE((*proc)->alive());
}

TEST(Process, WithoutPtracePermissionSaysWhatToGrant) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to start as root and drop to nobody";
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto live = LiveProcess::start({fixtures.front().path, "wait"});
  ASSERT_TRUE(live) << live.error().message;
  pid_t pid = (*live)->pid();
  // A child that becomes "nobody" (losing every capability) tries to attach to the
  // root-owned fixture and sends back the message it got.
  std::string msg = testing::in_child([pid] {
    if (!testing::become_nobody()) return std::string("setresuid failed");
    auto proc = Process::attach_readonly(pid);
    return proc ? std::string("attached") : proc.error().message;
  });
  EXPECT_EQ(msg, "permission denied reading /proc/" + std::to_string(pid) +
                     "/mem: run as root or grant CAP_SYS_PTRACE");
}

}  // namespace
}  // namespace goscry
