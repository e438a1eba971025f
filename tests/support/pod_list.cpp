#include "tests/support/pod_list.h"

#include <nlohmann/json.hpp>

namespace goscry::testing {
namespace {

using nlohmann::json;

json container_status(const FakeContainer& c, bool init) {
  json s = {{"name", c.name},
            {"image", "registry.example.com/payments/" + c.name + ":1.4.2"},
            {"imageID", "registry.example.com/payments/" + c.name +
                            "@sha256:4f1c9a6f2b1e0d7c8a9b3e5f6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c"},
            {"restartCount", 0},
            {"ready", !init},
            {"started", !init}};
  if (c.container_id.empty()) {
    s["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
    s["lastState"] = json::object();
    return s;
  }
  s["containerID"] = "containerd://" + c.container_id;
  s["lastState"] = json::object();
  if (init)
    s["state"] = {{"terminated",
                   {{"exitCode", 0},
                    {"reason", "Completed"},
                    {"startedAt", "2026-12-05T14:01:02Z"},
                    {"finishedAt", "2026-12-05T14:01:03Z"},
                    {"containerID", "containerd://" + c.container_id}}}};
  else
    s["state"] = {{"running", {{"startedAt", "2026-12-05T14:01:04Z"}}}};
  return s;
}

json container_spec(const FakeContainer& c) {
  return {{"name", c.name},
          {"image", "registry.example.com/payments/" + c.name + ":1.4.2"},
          {"ports", json::array({{{"containerPort", 8080}, {"protocol", "TCP"}}})},
          {"resources",
           {{"limits", {{"memory", "256Mi"}}}, {"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}},
          {"terminationMessagePath", "/dev/termination-log"},
          {"terminationMessagePolicy", "File"},
          {"imagePullPolicy", "IfNotPresent"},
          {"volumeMounts",
           json::array({{{"name", "kube-api-access-7xk2p"},
                         {"readOnly", true},
                         {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"}}})}};
}

json pod_json(const std::string& node, const FakePod& p) {
  json containers = json::array(), inits = json::array(), statuses = json::array(),
       init_statuses = json::array();
  for (const auto& c : p.containers) {
    containers.push_back(container_spec(c));
    statuses.push_back(container_status(c, false));
  }
  for (const auto& c : p.init_containers) {
    inits.push_back(container_spec(c));
    init_statuses.push_back(container_status(c, true));
  }
  json labels = json::object();
  for (const auto& [k, v] : p.labels) labels[k] = v;
  json pod = {
      {"metadata",
       {{"name", p.name},
        {"generateName", p.name.substr(0, p.name.rfind('-') + 1)},
        {"namespace", p.kube_namespace},
        {"uid", "0f3c2a1b-7d4e-4b8a-9c6d-5e2f1a0b3c4d"},
        {"resourceVersion", "48213377"},
        {"creationTimestamp", "2026-12-05T14:01:00Z"},
        {"labels", labels},
        {"annotations", {{"kubectl.kubernetes.io/restartedAt", "2026-12-05T14:00:58Z"}}},
        {"ownerReferences",
         json::array({{{"apiVersion", "apps/v1"},
                       {"kind", "ReplicaSet"},
                       {"name", p.name.substr(0, p.name.rfind('-'))},
                       {"uid", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}})},
        {"managedFields",
         json::array({{{"manager", "kube-controller-manager"},
                       {"operation", "Update"},
                       {"apiVersion", "v1"},
                       {"time", "2026-12-05T14:01:00Z"},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1",
                        {{"f:metadata",
                          {{"f:labels", {{".", json::object()}, {"f:app", json::object()}}}}}}}}})}}},
      {"spec",
       {{"containers", containers},
        {"restartPolicy", "Always"},
        {"terminationGracePeriodSeconds", 30},
        {"dnsPolicy", "ClusterFirst"},
        {"serviceAccountName", "default"},
        {"serviceAccount", "default"},
        {"nodeName", node},
        {"securityContext", json::object()},
        {"schedulerName", "default-scheduler"},
        {"tolerations",
         json::array({{{"key", "node.kubernetes.io/not-ready"},
                       {"operator", "Exists"},
                       {"effect", "NoExecute"},
                       {"tolerationSeconds", 300}}})},
        {"priority", 0},
        {"enableServiceLinks", true},
        {"preemptionPolicy", "PreemptLowerPriority"}}},
      {"status",
       {{"phase", "Running"},
        {"conditions",
         json::array({{{"type", "Ready"},
                       {"status", "True"},
                       {"lastProbeTime", nullptr},
                       {"lastTransitionTime", "2026-12-05T14:01:05Z"}}})},
        {"hostIP", "10.0.3.17"},
        {"hostIPs", json::array({{{"ip", "10.0.3.17"}}})},
        {"podIP", "10.244.2.31"},
        {"podIPs", json::array({{{"ip", "10.244.2.31"}}})},
        {"startTime", "2026-12-05T14:01:00Z"},
        {"containerStatuses", statuses},
        {"qosClass", "Burstable"}}}};
  if (!inits.empty()) {
    pod["spec"]["initContainers"] = inits;
    pod["status"]["initContainerStatuses"] = init_statuses;
  }
  return pod;
}

}  // namespace

std::string pod_list_json(const std::string& node, const std::vector<FakePod>& pods) {
  json items = json::array();
  for (const auto& p : pods) items.push_back(pod_json(node, p));
  json list = {{"kind", "PodList"},
               {"apiVersion", "v1"},
               {"metadata", {{"resourceVersion", "48213402"}}},
               {"items", items}};
  return list.dump();
}

}  // namespace goscry::testing
