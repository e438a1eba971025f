#include "tests/support/container_scope.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>
#include <thread>

namespace goscry::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path cgroup2_mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, dir, type, rest;
  while (mounts >> device >> dir >> type && std::getline(mounts, rest))
    if (type == "cgroup2") return dir;
  return {};
}

std::string random_container_id() {
  std::random_device rd;
  std::ostringstream id;
  for (int i = 0; i < 8; ++i) id << std::hex << std::setw(8) << std::setfill('0') << rd();
  return id.str();
}

ScopeCgroup::ScopeCgroup(const fs::path& root, const std::string& id)
    : slice(root / ("goscry-test-" + std::to_string(getpid()) + ".slice")),
      scope(slice / ("cri-containerd-" + id + ".scope")) {
  fs::create_directories(scope);
}

ScopeCgroup::~ScopeCgroup() {
  // An exited process leaves its cgroup at once, but give a slow reap a moment.
  for (int i = 0; i < 100 && rmdir(scope.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(20ms);
  rmdir(slice.c_str());
}

Result<std::unique_ptr<LiveProcess>> start_in_container(const ScopeCgroup& scope,
                                                        const std::string& kube_namespace,
                                                        const std::string& pod,
                                                        const std::string& exe) {
  // The shell moves itself into the scope, mounts the namespace file where only its mount
  // namespace sees it, then becomes the fixture.
  const std::string script =
      "set -e; echo $$ > \"$1/cgroup.procs\"; mount -t tmpfs goscry-sa /run; "
      "mkdir -p /run/secrets/kubernetes.io/serviceaccount; printf %s \"$2\" > " +
      std::string(kNamespaceFile) + "; exec env HOSTNAME=\"$3\" \"$4\" wait";
  return LiveProcess::start({"unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                             "sh", scope.scope.string(), kube_namespace, pod, exe});
}

std::string series_line(const std::string& body, const std::string& family,
                        const std::string& pid) {
  const std::string start = "\n" + family + "{pid=\"" + pid + "\",";
  auto at = body.find(start);
  if (at == std::string::npos) return "";
  return body.substr(at + 1, body.find('\n', at + 1) - at - 1);
}

}  // namespace goscry::testing
