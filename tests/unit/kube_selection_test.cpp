// Target selection and the Kubernetes pod list on their own: the config keys and their
// errors, the include/exclude semantics, the filtered parse of a v1 PodList shaped like the
// API server's (tests/support/pod_list.h) and what it must refuse, and the pod list read
// over a real loopback socket from a server whose answer is too big.
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <string>
#include <thread>

#include "agent/daemon/agent_config.h"
#include "agent/daemon/kube_pods.h"
#include "agent/daemon/target_selection.h"
#include "tests/support/pod_list.h"
#include "tests/support/processes.h"

namespace goscry {
namespace {

using testing::FakePod;

const std::string kIdA(64, 'a');
const std::string kIdB(64, 'b');
const std::string kIdC(64, 'c');

TargetInfo target(std::string exe, std::string ns, std::string pod = "",
                  std::string version = "go1.26.8") {
  TargetInfo t{1, 1, std::move(exe), std::move(version)};
  t.kube_namespace = std::move(ns);
  t.pod = std::move(pod);
  return t;
}

TEST(TargetSelection, ExcludeWinsAndAnEmptyIncludeTakesEverything) {
  auto c = parse_agent_config(
      "include:\n  - {namespace: 'team-*'}\n  - {exe: '/usr/bin/kubelet'}\n"
      "exclude:\n  - {namespace: team-b, pod: 'batch-*'}\n  - {go_version: 'go1.19*'}\n"
      "max_targets_per_namespace: 5\n");
  ASSERT_TRUE(c) << c.error().message;
  const TargetSelection& s = c->selection;
  EXPECT_EQ(s.max_targets_per_namespace, 5u);
  EXPECT_TRUE(selected(s, target("/app/server", "team-a")));
  EXPECT_TRUE(selected(s, target("/usr/bin/kubelet", "")));
  EXPECT_FALSE(selected(s, target("/usr/bin/containerd", "")));
  EXPECT_TRUE(selected(s, target("/app/server", "team-b", "api-1")));
  EXPECT_FALSE(selected(s, target("/app/server", "team-b", "batch-7")));  // both fields match
  EXPECT_FALSE(selected(s, target("/app/server", "team-a", "", "go1.19.13")));
  // `*` crosses `/`: a glob on a directory takes what is under it.
  TargetSelection under{{{.exe = "/opt/*"}}, {}, 0};
  EXPECT_TRUE(selected(under, target("/opt/team/bin/server", "")));
  EXPECT_TRUE(selected(TargetSelection{}, target("/anything", "")));
}

TEST(TargetSelection, ConfigErrorsNameTheEntryAndTheField) {
  EXPECT_EQ(parse_agent_config("include: {exe: x}\n").error().message,
            "include: must be a list of selectors");
  EXPECT_EQ(parse_agent_config("exclude: [{exe: x}, {pods: y}]\n").error().message,
            "exclude[1]: unknown field \"pods\" (want exe, container_id, namespace, pod, "
            "go_version, pid)");
  EXPECT_EQ(parse_agent_config("include: [{}]\n").error().message,
            "include[0]: must be a mapping of at least one field");
  EXPECT_EQ(parse_agent_config("include: [{exe: ''}]\n").error().message,
            "include[0].exe: must be a glob of 1 to 4096 characters");
  EXPECT_EQ(parse_agent_config("max_targets_per_namespace: -1\n").error().message,
            "max_targets_per_namespace: must be between 0 (no cap) and 100000");
  EXPECT_EQ(parse_agent_config("kubernetes: yes\n").error().message,
            "kubernetes: must be auto, on or off");
  EXPECT_EQ(parse_agent_config("pod_labels: [app, app.kubernetes.io/name, app_kubernetes_io/name]\n")
                .error()
                .message,
            "pod_labels: \"app_kubernetes_io/name\" becomes the same label "
            "label_app_kubernetes_io_name as another one");
  EXPECT_EQ(parse_agent_config("pod_labels: ['a b']\n").error().message,
            "pod_labels: \"a b\" is not a label key");
  EXPECT_EQ(parse_agent_config("kubernetes_refresh_interval: 10ms\n").error().message,
            "kubernetes_refresh_interval: at least 1s");
}

std::map<std::string, std::string> fake_env;
std::string lookup(const char* name) {
  auto it = fake_env.find(name);
  return it == fake_env.end() ? "" : it->second;
}

TEST(KubeEndpoint, ComesFromTheServiceAccountEnvironmentOrTheConfig) {
  KubeSettings s;
  fake_env = {};
  auto off = resolve_kube_endpoint(s, lookup);  // auto, outside a cluster
  ASSERT_TRUE(off);
  EXPECT_FALSE(*off);
  fake_env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
              {"KUBERNETES_SERVICE_PORT", "443"},
              {"NODE_NAME", "node-a"}};
  auto in = resolve_kube_endpoint(s, lookup);
  ASSERT_TRUE(in && *in);
  EXPECT_EQ((*in)->url, "https://10.96.0.1:443/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a");
  EXPECT_EQ((*in)->token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  fake_env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  EXPECT_EQ((*resolve_kube_endpoint(s, lookup))->url,
            "https://[fd00::1]:443/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a");
  fake_env.erase("NODE_NAME");
  EXPECT_EQ(resolve_kube_endpoint(s, lookup).error().message,
            "kubernetes: no node name: set NODE_NAME (the downward API's spec.nodeName) or "
            "kubernetes_node");
  s.node_name = "node-a&watch=1";
  EXPECT_EQ(resolve_kube_endpoint(s, lookup).error().message,
            "kubernetes: node name \"node-a&watch=1\": not a DNS name");
  s.pods_url = "https://10.0.3.17:10250/pods";  // the kubelet's
  EXPECT_EQ((*resolve_kube_endpoint(s, lookup))->url, "https://10.0.3.17:10250/pods");
  s.mode = KubeMode::kOff;
  EXPECT_FALSE(*resolve_kube_endpoint(s, lookup));
  s = KubeSettings{};
  s.mode = KubeMode::kOn;
  fake_env = {};
  EXPECT_FALSE(resolve_kube_endpoint(s, lookup));
  s.pods_url = "ftp://x/pods";
  EXPECT_FALSE(resolve_kube_endpoint(s, lookup));
}

TEST(KubePodList, IndexesEveryStartedContainerWithItsPod) {
  std::vector<FakePod> pods = {
      {"api-5c7d9b8f6-q4wzt", "team-a", {{"app", "api"}, {"tier", "web"}},
       {{"server", kIdA}, {"sidecar", kIdB}}, {{"migrate", kIdC}}},
      {"api-5c7d9b8f6-zz9kd", "team-a", {{"app", "api"}}, {{"server", ""}}, {}}};
  auto index = parse_pod_list(testing::pod_list_json("node-a", pods), {"app", "missing"});
  ASSERT_TRUE(index) << index.error().message;
  ASSERT_EQ(index->size(), 3u);
  const PodIdentity& a = index->at(kIdA);
  EXPECT_EQ(a.pod, "api-5c7d9b8f6-q4wzt");
  EXPECT_EQ(a.kube_namespace, "team-a");
  EXPECT_EQ(a.container, "server");
  EXPECT_EQ(a.labels, (std::map<std::string, std::string>{{"app", "api"}}));
  EXPECT_EQ(index->at(kIdB).container, "sidecar");
  EXPECT_EQ(index->at(kIdC).container, "migrate");
}

TEST(KubePodList, RefusesHostileAnswersWithASentence) {
  EXPECT_EQ(parse_pod_list(std::string(100000, '[') + std::string(100000, ']'), {})
                .error()
                .message,
            "pod list: nested deeper than 64 levels");
  // A quarter million values where goscry keeps them (a pod's labels).
  std::string wide = "{\"items\":[{\"metadata\":{\"labels\":{";
  for (int i = 0; i < 250000; ++i) wide += (i ? ",\"" : "\"") + std::to_string(i) + "\":1";
  wide += "}}}]}";
  EXPECT_EQ(parse_pod_list(wide, {}).error().message,
            "pod list: over 200000 values in the fields goscry reads");
  EXPECT_EQ(parse_pod_list("{\"kind\":\"Status\",\"code\":403}", {}).error().message,
            "pod list: no \"items\" list (not a v1 PodList)");
  EXPECT_EQ(parse_pod_list("[1,2", {}).error().message, "pod list: not a JSON object");
  // Wrong types where strings and objects belong are skipped, not trusted.
  auto odd = parse_pod_list(
      "{\"items\":[7,{\"metadata\":[],\"status\":{}},{\"metadata\":{\"name\":1,\"labels\":"
      "{\"app\":2}},\"status\":{\"containerStatuses\":[{\"name\":\"x\",\"containerID\":"
      "\"containerd://" + kIdA + "\"},{\"containerID\":\"containerd://abc\"},5]}}]}",
      {"app"});
  ASSERT_TRUE(odd) << odd.error().message;
  ASSERT_EQ(odd->size(), 1u);
  EXPECT_EQ(odd->at(kIdA), (PodIdentity{"", "", "x", {}}));
}

// The answer's size is capped while it is read: a server sending more than kMaxBodyBytes
// gets a failed list, counted, and the agent keeps nothing of it.
TEST(KubePods, StopsReadingAnAnswerOverItsSizeCap) {
  httplib::Server server;
  const std::string huge(KubePods::kMaxBodyBytes + 1, ' ');
  server.Get("/pods", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(huge, "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { server.listen_after_bind(); });
  ASSERT_TRUE(testing::poll_until([&] { return server.is_running(); }));
  prometheus::Registry registry;
  {
    KubePods pods(registry);
    KubeSettings s;
    s.token_file = "/nonexistent";
    pods.configure(KubeEndpoint{"http://127.0.0.1:" + std::to_string(port) + "/pods",
                                "/nonexistent", ""},
                   s);
    EXPECT_TRUE(testing::poll_until([&] {
      return registry.render().find("goscry_kube_pod_lists_total{result=\"error\"} 1") !=
             std::string::npos;
    })) << registry.render();
    EXPECT_FALSE(pods.find(kIdA));
  }
  EXPECT_NE(registry.render().find("goscry_kube_pod_lists_total{result=\"ok\"} 0"),
            std::string::npos)
      << registry.render();
  server.stop();
  t.join();
}

}  // namespace
}  // namespace goscry
