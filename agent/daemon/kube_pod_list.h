// A v1 PodList (the API server's GET /api/v1/pods, the kubelet's /pods) read into what the
// agent labels targets with: container id -> pod, namespace, container name, pod labels.
// Untrusted input: nesting depth and kept values are capped, and the parse keeps only the
// fields it reads (a pod's managedFields, spec and annotations are never built in memory).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/error.h"

namespace goscry {

struct PodIdentity {
  std::string pod;
  std::string kube_namespace;
  std::string container;                      // the container's name in the pod spec
  std::map<std::string, std::string> labels;  // only the pod_labels asked for
  bool operator==(const PodIdentity&) const = default;
};

// The Prometheus label a pod label is exported as, as kube-state-metrics names them:
// "app.kubernetes.io/name" -> "label_app_kubernetes_io_name".
std::string pod_label_metric_name(const std::string& pod_label);

// Container id (64 hex, runtime prefix removed) -> its pod.
using PodIndex = std::map<std::string, PodIdentity>;

// Parses a v1 PodList. Only containers that have an id (started at least once) are indexed;
// regular, init and ephemeral containers alike.
Result<PodIndex> parse_pod_list(std::string_view json, const std::vector<std::string>& pod_labels);

}  // namespace goscry
