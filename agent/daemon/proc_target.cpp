#include "agent/daemon/proc_target.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "agent/daemon/target_process.h"
#include "agent/proc/container_identity.h"
#include "agent/goruntime/go_version.h"
#include "symbolizer/proc_file.h"
#include "symbolizer/proc_stat.h"

namespace goscry {
namespace {

std::string proc_path(pid_t pid, const char* leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

Result<std::string> read_exe_link(pid_t pid) {
  char buf[4096];
  ssize_t n = readlink(proc_path(pid, "exe").c_str(), buf, sizeof buf - 1);
  if (n < 0) return fail_errno(errno, proc_path(pid, "exe"));
  return std::string(buf, size_t(n));
}

}  // namespace

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  auto s = read_proc_stat(pid);
  if (!s || s->gone()) return std::nullopt;
  return s->start_ticks;
}

bool target_alive(const TargetInfo& t) {
  auto ticks = process_start_ticks(t.pid);
  return ticks && *ticks == t.start_ticks;
}

Result<TargetInfo> identify_target(pid_t pid) {
  std::string who = "pid " + std::to_string(pid);
  auto ticks = process_start_ticks(pid);
  if (!ticks) return fail(ErrorKind::NotFound, who + ": no such process");
  auto exe = read_exe_link(pid);
  if (!exe) return context(exe.error(), who);
  // Read the binary through the magic link, not the path: it works across mount
  // namespaces (containers) and for deleted binaries.
  auto version = go_version_of_file(proc_path(pid, "exe"));
  if (!version) return context(version.error(), who);
  ContainerIdentity where = read_container_identity(pid);
  // The process may have exited and its pid been reused while we read: check again.
  if (process_start_ticks(pid) != ticks)
    return fail(ErrorKind::TargetGone, who + ": no such process");
  TargetInfo info{pid,       *ticks,   *exe, *version, std::move(where.container_id),
                  std::move(where.pod), std::move(where.kube_namespace)};
  info.process = std::make_shared<TargetProcess>(pid);
  return info;
}

std::vector<pid_t> list_pids() {
  std::vector<pid_t> pids;
  DIR* d = opendir("/proc");
  if (!d) return pids;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0) pids.push_back(pid_t(v));
  }
  closedir(d);
  return pids;
}

void ProcTargetSource::read(const TargetInfo& target, TargetFigures& figures) {
  figures.alive = target_alive(target);
}

}  // namespace goscry
