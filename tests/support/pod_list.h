// JSON shaped exactly like the Kubernetes API server's answers (v1 PodList of
// GET /api/v1/pods, as `kubectl get --raw` prints them), for the tests of the agent's
// Kubernetes discovery: every field a real pod of a Deployment carries, managedFields
// included, so that the agent's filtered parse sees what it will see on a node.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace goscry::testing {

struct FakeContainer {
  std::string name;
  std::string container_id;  // 64 hex, or "" for a container not started yet
};

struct FakePod {
  std::string name;
  std::string kube_namespace;
  std::map<std::string, std::string> labels;
  std::vector<FakeContainer> containers;
  std::vector<FakeContainer> init_containers;
};

// The PodList a fieldSelector=spec.nodeName=NODE list answers with.
std::string pod_list_json(const std::string& node, const std::vector<FakePod>& pods);

}  // namespace goscry::testing
