// A containerised process made the way a container runtime makes one, without a runtime:
// a fresh cgroup v2 directory named like a containerd scope, a mount namespace whose /run
// holds a Kubernetes service-account namespace file, HOSTNAME=<pod name>. Shared by the
// agent's container-label and Kubernetes tests.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/live_process.h"

namespace goscry::testing {

// Where cgroup v2 is mounted ("/sys/fs/cgroup", or ".../unified" on a hybrid host); "" if not.
std::filesystem::path cgroup2_mount();

// 64 random lower-hex digits, like a runtime's container id.
std::string random_container_id();

// The file a pod's service account namespace is read from, in the container's /run.
inline constexpr const char* kNamespaceFile = "/run/secrets/kubernetes.io/serviceaccount/namespace";

// goscry-test-PID.slice/cri-containerd-ID.scope under the cgroup v2 root, removed (after
// its process is gone) when the test ends.
struct ScopeCgroup {
  std::filesystem::path slice, scope;
  ScopeCgroup(const std::filesystem::path& root, const std::string& id);
  ~ScopeCgroup();
};

// `exe wait` inside `scope`, in its own mount namespace with `kube_namespace` in its
// service-account namespace file and HOSTNAME=`pod`. The shell becomes the fixture (same
// pid), as a runtime's init does.
Result<std::unique_ptr<LiveProcess>> start_in_container(const ScopeCgroup& scope,
                                                        const std::string& kube_namespace,
                                                        const std::string& pod,
                                                        const std::string& exe);

// The line of `family` for `pid` in a /metrics body, or "" while there is none.
std::string series_line(const std::string& body, const std::string& family,
                        const std::string& pid);

}  // namespace goscry::testing
