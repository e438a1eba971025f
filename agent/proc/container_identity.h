// Which container, pod and Kubernetes namespace a target runs in, for the agent's
// per-target labels `container_id`, `pod`, `namespace` (docs/metrics.md). Read once when
// the agent discovers a target: none of them changes during a process's life.
//
// Sources, all readable from the host with hostPID and no container runtime API:
//   - container_id: the 64-hex id in /proc/PID/cgroup, in the shapes docker, containerd,
//     CRI-O and podman give their cgroups (cgroup v2 and v1, cgroupfs and systemd drivers);
//   - pod: HOSTNAME in /proc/PID/environ, which the runtime sets to the pod's name — only
//     for a process in a container (on the host it is the machine's name, if anything);
//   - namespace: the service account's namespace file, read inside the target's own root.
// Every value is "" when unknown; a process that vanishes meanwhile leaves them empty.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "symbolizer/error.h"

namespace goscry {

struct ContainerIdentity {
  std::string container_id;
  std::string pod;
  std::string kube_namespace;
};

ContainerIdentity read_container_identity(pid_t pid);

// The container id in the text of a /proc/PID/cgroup file: from the cgroup v2 line
// ("0::PATH") when it has one, else from the first v1 line that has one; "" when none.
std::string container_id_from_cgroup(std::string_view cgroup_file);

// The value of `name` in a NUL-separated environment block (/proc/PID/environ); "" when
// absent.
std::string environ_value(std::string_view environ, std::string_view name);

// The file `path` (absolute) as a process whose root directory is `root` sees it: symbolic
// links, absolute ones included, resolve inside `root` (openat2 RESOLVE_IN_ROOT) — through
// /proc/PID/root a plain open would follow a container's `/var/run -> /run` to OUR /run.
// Only a regular file is read (a FIFO planted there must not block the agent).
Result<std::string> read_file_in_root(const std::string& root, const std::string& path,
                                      std::size_t max_bytes);

}  // namespace goscry
