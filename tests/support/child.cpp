#include "tests/support/child.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace goscry::testing {

std::string in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return "child failed";
  pid_t pid = fork();
  if (pid < 0) return "child failed";
  if (pid == 0) {
    close(fds[0]);
    std::string s = body();
    ssize_t w = write(fds[1], s.data(), s.size());
    _exit(w == static_cast<ssize_t>(s.size()) ? 0 : 1);
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

bool drop_effective_capabilities(const std::vector<int>& caps) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2] = {};
  if (syscall(SYS_capget, &h, d) != 0) return false;
  for (int cap : caps) d[cap / 32].effective &= ~(1u << (cap % 32));
  return syscall(SYS_capset, &h, d) == 0;
}

bool become_nobody() {
  return setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0;
}

}  // namespace goscry::testing
