#include "agent/proc/container_identity.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "symbolizer/proc_file.h"

namespace goscry {
namespace {

constexpr std::size_t kIdLength = 64;  // hex digits of a sha256: every runtime's ids
// Kubernetes names are DNS subdomains (pods) or labels (namespaces): longer is not one.
constexpr std::size_t kMaxNameLength = 253;
constexpr const char* kNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// One path segment: "<id>" (docker's cgroupfs driver, kubepods/.../pod<uid>/<id>) or
// "<runtime>-<id>.scope" (systemd driver: docker-, cri-containerd-, crio-, libpod-). Only
// exactly 64 hex digits count: shorter hex segments are other things' ids (a 32-hex
// systemd or sandbox cgroup name must not become a container id).
std::string_view id_in_segment(std::string_view seg) {
  if (seg.ends_with(".scope")) seg.remove_suffix(6);
  if (auto dash = seg.find_last_of("-:"); dash != std::string_view::npos) seg.remove_prefix(dash + 1);
  return seg.size() == kIdLength && is_lower_hex(seg) ? seg : std::string_view{};
}

// The deepest id of a cgroup path: nested containers (docker in docker) and podman's
// "libpod-<id>.scope/container" both put the process's own container last. Paths may
// start with "/.." segments when the agent's cgroup namespace is not the root one.
std::string_view id_in_path(std::string_view path) {
  std::string_view found;
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    if (auto id = id_in_segment(seg); !id.empty()) found = id;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return found;
}

// "hierarchy:controllers:path" -> path; "" for a malformed line.
std::string_view cgroup_path(std::string_view line, bool& v2) {
  auto first = line.find(':');
  if (first == std::string_view::npos) return {};
  auto second = line.find(':', first + 1);
  if (second == std::string_view::npos) return {};
  v2 = line.substr(0, first) == "0" && second == first + 1;
  return line.substr(second + 1);
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && std::strchr(" \t\r\n", s.back())) s.remove_suffix(1);
  while (!s.empty() && std::strchr(" \t\r\n", s.front())) s.remove_prefix(1);
  return std::string(s);
}

std::string name_or_empty(std::string_view s) {
  std::string t = trimmed(s);
  return t.size() <= kMaxNameLength ? t : std::string();
}

}  // namespace

std::string container_id_from_cgroup(std::string_view text) {
  std::string_view v1_id;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    bool v2 = false;
    std::string_view id = id_in_path(cgroup_path(line, v2));
    if (id.empty()) continue;
    if (v2) return std::string(id);
    if (v1_id.empty()) v1_id = id;
  }
  return std::string(v1_id);
}

std::string environ_value(std::string_view env, std::string_view name) {
  while (!env.empty()) {
    auto end = env.find('\0');
    std::string_view entry = env.substr(0, end);
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=')
      return std::string(entry.substr(name.size() + 1));
    if (end == std::string_view::npos) break;
    env.remove_prefix(end + 1);
  }
  return {};
}

Result<std::string> read_file_in_root(const std::string& root, const std::string& path,
                                      std::size_t max_bytes) {
  const std::string name = root + path;
  int dir = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return fail_errno(errno, root);
  open_how how{};
  how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = int(::syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how));
  int err = errno;
  ::close(dir);
  if (fd < 0) return fail_errno(err, name);
  struct stat st {};
  Result<std::string> out = fail(ErrorKind::Unsupported, name + ": not a regular file");
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) out = read_open_file(fd, name, max_bytes);
  ::close(fd);
  return out;
}

ContainerIdentity read_container_identity(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  ContainerIdentity id;
  if (auto cgroup = read_proc_file(proc + "/cgroup", 1 << 20))
    id.container_id = container_id_from_cgroup(*cgroup);
  if (!id.container_id.empty())
    if (auto env = read_proc_file(proc + "/environ", 1 << 20))
      id.pod = name_or_empty(environ_value(*env, "HOSTNAME"));
  if (auto ns = read_file_in_root(proc + "/root", kNamespaceFile, kMaxNameLength + 2))
    id.kube_namespace = name_or_empty(*ns);
  return id;
}

}  // namespace goscry
