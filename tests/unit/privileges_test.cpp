// missing_privileges() names exactly the capabilities a process lacks. A forked child
// drops capabilities from its effective set for real and reports what it sees.
#include "agent/privileges.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace goscry {
namespace {

// Runs missing_privileges() in a child whose effective set lacks `drop`; "" means nullopt.
std::string missing_without(const std::vector<int>& drop) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2] = {};
    syscall(SYS_capget, &h, d);
    for (int cap : drop) d[cap / 32].effective &= ~(1u << (cap % 32));
    if (syscall(SYS_capset, &h, d) != 0) _exit(2);
    auto m = missing_privileges();
    std::string s = m ? *m : "";
    (void)!write(fds[1], s.data(), s.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? out : "child failed";
}

TEST(Privileges, NamesEachMissingCapability) {
  if (missing_privileges()) GTEST_SKIP() << "needs a process holding every capability (root)";
  EXPECT_EQ(missing_without({}), "");
  // CAP_SYS_ADMIN (21) stands in for CAP_BPF (39) and CAP_PERFMON (38).
  EXPECT_EQ(missing_without({39}), "");
  EXPECT_EQ(missing_without({21, 39}),
            "goscry needs CAP_BPF to probe Go processes (run it as root or grant the "
            "capabilities)");
  EXPECT_EQ(missing_without({21, 38, 39, 19}),
            "goscry needs CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE to probe Go processes (run it "
            "as root or grant the capabilities)");
}

}  // namespace
}  // namespace goscry
