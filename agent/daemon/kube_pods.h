// Who a containerised target is in Kubernetes terms — pod, namespace, container name and
// the pod labels the config asks for — from the API server's list of this node's pods
// (GET /api/v1/pods?fieldSelector=spec.nodeName=NODE with the agent's service account) or
// the kubelet's /pods, which answers the same v1 PodList. A target is matched by the
// container id its cgroup path names (agent/proc/container_identity.h), which is the id
// in the pod's status.containerStatuses[].containerID ("containerd://<64 hex>").
//
// The list is read on a thread of its own every refresh_interval, and at once (at most
// every kMinRelist) when a target's container is not in it yet: a pod that just started.
// The last good list stays in use while the API cannot be reached; a target it does not
// know keeps the cgroup + environ identity (docs/agent.md, "Kubernetes").
//
// Bounds, since the answer is untrusted input: connect and read timeouts, a deadline on
// the whole body and a body size cap here; the parse's own in agent/daemon/kube_pod_list.h.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/base/periodic_worker.h"
#include "agent/daemon/kube_pod_list.h"
#include "exporters/prometheus.h"
#include "symbolizer/error.h"

namespace goscry {

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

enum class KubeMode { kAuto, kOn, kOff };

// The config keys kubernetes* and pod_labels (docs/agent.md).
struct KubeSettings {
  KubeMode mode = KubeMode::kAuto;
  std::string pods_url;   // empty: the API server's, from KUBERNETES_SERVICE_HOST/PORT
  std::string node_name;  // empty: NODE_NAME of the agent's environment
  std::string token_file = std::string(kServiceAccountDir) + "/token";
  std::string ca_file = std::string(kServiceAccountDir) + "/ca.crt";
  std::chrono::milliseconds refresh_interval{30000};
  std::vector<std::string> pod_labels;
  bool operator==(const KubeSettings&) const = default;
};

// Where and how to read the pod list, settled from the settings and the environment.
struct KubeEndpoint {
  std::string url;  // the PodList's full URL
  std::string token_file;
  std::string ca_file;
};

// Nothing when Kubernetes discovery is off (mode off, or auto outside a cluster); an error
// names what is missing ("kubernetes: no node name: set NODE_NAME ...").
using EnvLookup = std::string (*)(const char* name);
Result<std::optional<KubeEndpoint>> resolve_kube_endpoint(const KubeSettings& s, EnvLookup env);

class KubePods {
 public:
  static constexpr std::size_t kMaxBodyBytes = 16u << 20;  // ~100x a full node's list
  static constexpr std::chrono::seconds kMinRelist{2};

  explicit KubePods(prometheus::Registry& registry);
  ~KubePods();  // stop()

  // Applies settings (start and every reload); nullopt endpoint: off, the index is emptied.
  // A change of endpoint or labels lists the pods again at once.
  void configure(std::optional<KubeEndpoint> endpoint, const KubeSettings& settings);
  void stop();

  // The pod of a container id; nothing when unknown (then, if the list is on, a relist is
  // asked for, at most every kMinRelist).
  std::optional<PodIdentity> find(const std::string& container_id);

 private:
  PeriodicWorker::Clock::time_point list_pods();

  prometheus::Counter& lists_ok_;
  prometheus::Counter& lists_failed_;
  prometheus::Gauge& containers_;
  prometheus::Gauge& last_success_;
  std::mutex mu_;
  std::optional<KubeEndpoint> endpoint_;
  std::vector<std::string> pod_labels_;
  std::chrono::milliseconds interval_{30000};
  PodIndex index_;
  PeriodicWorker::Clock::time_point last_relist_ask_{};
  std::unique_ptr<PeriodicWorker> worker_;
};

}  // namespace goscry
