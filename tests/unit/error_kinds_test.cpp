// Every error carries a kind and the errno behind it (symbolizer/error.h), set where the
// failure happens: the kernel's own errno is the oracle for the mapping, and the sources
// (/proc reads, process memory reads) are checked against real failures, not made-up ones.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "symbolizer/error.h"
#include "symbolizer/proc_file.h"
#include "symbolizer/process.h"
#include "tests/support/child.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::LiveProcess;
using testing::never_a_pid;

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::NotFound:
      return "NotFound";
    case ErrorKind::Permission:
      return "Permission";
    case ErrorKind::Unsupported:
      return "Unsupported";
    case ErrorKind::BadInput:
      return "BadInput";
    case ErrorKind::TargetGone:
      return "TargetGone";
    case ErrorKind::Io:
      return "Io";
  }
  return "?";
}

TEST(ErrorKinds, TheErrnoChoosesTheKind) {
  const struct {
    int err;
    ErrorKind kind;
  } cases[] = {{ENOENT, ErrorKind::NotFound},  {EACCES, ErrorKind::Permission},
               {EPERM, ErrorKind::Permission}, {ESRCH, ErrorKind::TargetGone},
               {EIO, ErrorKind::Io},           {ENOSPC, ErrorKind::Io},
               {EFAULT, ErrorKind::Io}};
  for (const auto& c : cases) {
    SCOPED_TRACE(std::strerror(c.err));
    const Error e = fail_errno(c.err, "/some/path").error();
    EXPECT_STREQ(kind_name(e.kind), kind_name(c.kind));
    EXPECT_EQ(e.error_number, c.err);
    EXPECT_EQ(e.message, std::string("/some/path: ") + std::strerror(c.err));
  }
}

TEST(ErrorKinds, ContextKeepsKindAndErrno) {
  Result<int> r = fail_errno(EACCES, "/proc/1/mem");
  r = context(r, "pid 1");
  r = context(r, "goscry");
  ASSERT_FALSE(r);
  EXPECT_STREQ(kind_name(r.error().kind), "Permission");
  EXPECT_EQ(r.error().error_number, EACCES);
  EXPECT_EQ(r.error().message, std::string("goscry: pid 1: /proc/1/mem: ") + std::strerror(EACCES));
  const Error gone = context(Error{ErrorKind::TargetGone, "process 7 exited", 0}, "heap").error();
  EXPECT_STREQ(kind_name(gone.kind), "TargetGone");
  EXPECT_EQ(gone.message, "heap: process 7 exited");
  Result<int> ok = context(Result<int>(42), "unused");
  EXPECT_EQ(ok.value(), 42);
}

TEST(ErrorKinds, AMissingProcFileIsNotFoundWithTheKernelsErrno) {
  errno = 0;
  std::ifstream probe("/proc/self/no-such-file");
  ASSERT_FALSE(probe.is_open());
  const int kernel_errno = errno;  // what open(2) said, the oracle
  auto r = read_proc_file("/proc/self/no-such-file");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error_number, kernel_errno);
  EXPECT_STREQ(kind_name(r.error().kind), kind_name(kind_of_errno(kernel_errno)));
  EXPECT_STREQ(kind_name(r.error().kind), "NotFound");
}

TEST(ErrorKinds, APidThatIsNoProcessIsNotFoundAndAKernelThreadUnsupported) {
  auto none = Process::attach_readonly(never_a_pid());
  ASSERT_FALSE(none);
  EXPECT_STREQ(kind_name(none.error().kind), "NotFound");
  // kthreadd is pid 2 wherever the kernel starts it (kernel/kthread.c).
  std::ifstream comm("/proc/2/comm");
  std::string name;
  std::getline(comm, name);
  if (name != "kthreadd") GTEST_SKIP() << "pid 2 is " << name << ", not kthreadd";
  auto kthread = Process::attach_readonly(2);
  ASSERT_FALSE(kthread);
  EXPECT_STREQ(kind_name(kthread.error().kind), "Unsupported") << kthread.error().message;
}

TEST(ErrorKinds, ReadsOfAProcessThatExitedAreTargetGone) {
  // sh itself waits on its stdin: after an `exec` the ready line could come before the new
  // image is mapped, and /proc/PID/maps read in between is empty (CI saw it).
  auto live = LiveProcess::start({"sh", "-c", "echo ready; read line"});
  ASSERT_TRUE(live) << live.error().message;
  const pid_t pid = (*live)->pid();
  auto proc = Process::attach_readonly(pid);
  ASSERT_TRUE(proc) << proc.error().message;
  auto maps = (*proc)->maps();
  ASSERT_TRUE(maps) << maps.error().message;
  const std::uint64_t addr = maps->mappings().front().start;
  ASSERT_TRUE((*proc)->read_u64(addr));
  // A pidfd turns readable when the process exits: nothing to sleep for.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  pollfd pfd{pidfd, POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1);
  close(pidfd);
  auto zombie = (*proc)->read_u64(addr);
  ASSERT_FALSE(zombie);
  EXPECT_STREQ(kind_name(zombie.error().kind), "TargetGone") << zombie.error().message;
  (*live)->kill();  // reaped: the pid is gone
  auto gone = (*proc)->read(addr, 64);
  ASSERT_FALSE(gone);
  EXPECT_STREQ(kind_name(gone.error().kind), "TargetGone") << gone.error().message;
}

// A target owned by nobody, read by root without CAP_SYS_PTRACE (as a container runs it):
// the kernel refuses with EACCES, and "run as root" would be a lie since goscry is root.
TEST(ErrorKinds, RootWithoutCapSysPtraceIsToldWhatIsMissingNotToRunAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  auto live = LiveProcess::start({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  "sh", "-c", "echo ready; exec sleep 600"});
  ASSERT_TRUE(live) << live.error().message;
  const pid_t pid = (*live)->pid();
  const std::string said = testing::in_child([pid] {
    constexpr int kCapSysPtrace = 19;
    if (!testing::drop_effective_capabilities({kCapSysPtrace})) return std::string("capset failed");
    auto proc = Process::attach_readonly(pid);
    if (proc) return std::string("attached");
    return std::string(kind_name(proc.error().kind)) + " " +
           std::to_string(proc.error().error_number) + " " + proc.error().message;
  });
  EXPECT_EQ(said, "Permission " + std::to_string(EACCES) + " permission denied reading /proc/" +
                      std::to_string(pid) +
                      "/mem: goscry runs as root but without CAP_SYS_PTRACE (containers drop "
                      "it): grant it");
}

}  // namespace
}  // namespace goscry
