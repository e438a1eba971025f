// The agent's Kubernetes discovery against a loopback API server (real sockets, TLS with a
// CA of the test's own, a bearer token) that answers GET /api/v1/pods with a v1 PodList
// shaped like the real one, for a Go fixture containerised as a runtime would (the container
// test's setup: a containerd-like cgroup scope, HOSTNAME and a service-account namespace
// file). The oracles are what the test set up: the API's pod, namespace, container and
// labels differ from what the cgroup + environ path reads, so each label says where it came
// from. First the API is unreachable (the agent must still serve the target with the cgroup
// path's identity), then a SIGHUP points the agent at the server and the target's series
// take the pod list's identity.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/support/container_scope.h"
#include "tests/support/fixtures.h"
#include "tests/support/pod_list.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A port nothing listens on: bound, read, closed.
int closed_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  close(s);
  return ntohs(a.sin_port);
}

// The API server: TLS with a self-signed certificate for 127.0.0.1, the node's pods.
class FakeApiServer {
 public:
  FakeApiServer(const fs::path& dir, std::string pod_list)
      : cert_((dir / "api.crt").string()), key_((dir / "api.key").string()),
        pod_list_(std::move(pod_list)) {
    auto made = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key_, "-out",
                             cert_, "-days", "1", "-subj", "/CN=kubernetes", "-addext",
                             "subjectAltName=IP:127.0.0.1"});
    ok_ = made.exit_code == 0;
    error_ = made.err;
    if (!ok_) return;
    server_ = std::make_unique<httplib::SSLServer>(cert_.c_str(), key_.c_str());
    server_->Get("/api/v1/pods", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      field_selector_ = req.get_param_value("fieldSelector");
      authorization_ = req.get_header_value("Authorization");
      ++lists_;
      res.set_content(pod_list_, "application/json");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    poll_until([this] { return server_->is_running(); });
  }
  ~FakeApiServer() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  bool ok() const { return ok_ && port_ > 0; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  const std::string& ca_file() const { return cert_; }
  int lists() const {
    std::lock_guard lock(mu_);
    return lists_;
  }
  std::string field_selector() const {
    std::lock_guard lock(mu_);
    return field_selector_;
  }
  std::string authorization() const {
    std::lock_guard lock(mu_);
    return authorization_;
  }

 private:
  std::string cert_, key_, pod_list_, error_;
  bool ok_ = false;
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = -1;
  std::thread thread_;
  mutable std::mutex mu_;
  std::string field_selector_, authorization_;
  int lists_ = 0;
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p.string() + ".new") << text;
  fs::rename(p.string() + ".new", p);
}

// The value of a series (full line up to the value) in /metrics, or -1.
double value_of(const std::string& body, const std::string& series) {
  auto at = body.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + series.size() + 2));
}

TEST(AgentKube, LabelsATargetWithItsPodFromTheApiServerAndFallsBackToTheCgroupPath) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: namespaces and cgroups";
  const fs::path cgroot = cgroup2_mount();
  ASSERT_FALSE(cgroot.empty()) << "no cgroup2 mount in /proc/self/mounts";
  ASSERT_FALSE(fs::exists(kNamespaceFile))
      << "the host has " << kNamespaceFile << ": the test needs it not to";
  const fs::path dir = fs::temp_directory_path() / ("goscry-kube-" + std::to_string(getpid()));
  fs::create_directories(dir);

  const std::string id = random_container_id();
  const std::string other_id = random_container_id();
  const std::string init_id = random_container_id();
  FakePod pod{"payments-api-5c7d9b8f6-q4wzt",
              "team-payments",
              {{"app", "payments-api"},
               {"app.kubernetes.io/version", "1.4.2"},
               {"pod-template-hash", "5c7d9b8f6"}},
              {{"server", id}, {"envoy", other_id}},
              {{"migrate", init_id}}};
  FakePod pending{"payments-api-5c7d9b8f6-zz9kd", "team-payments", {{"app", "payments-api"}},
                  {{"server", ""}}, {}};
  FakeApiServer api(dir, pod_list_json("node-a", {pending, pod}));
  ASSERT_TRUE(api.ok()) << api.error();
  const std::string token = "eyJhbGciOiJSUzI1NiJ9.goscry-test-" + std::to_string(getpid());
  write_file(dir / "token", token + "\n");

  // What the cgroup + environ path reads: deliberately not what the API says.
  ScopeCgroup cgroup(cgroot, id);
  auto inside = start_in_container(cgroup, "ns-from-file", "pod-from-hostname", hello_fixture());
  ASSERT_TRUE(inside) << inside.error().message;
  const std::string pid = std::to_string((*inside)->pid());

  const std::string common = "targets: [" + pid + "]\nscan_interval: 100ms\nkubernetes: on\n" +
                             "kubernetes_token_file: " + (dir / "token").string() + "\n" +
                             "kubernetes_ca_file: " + api.ca_file() + "\n" +
                             "kubernetes_refresh_interval: 1s\n" +
                             "pod_labels: [app, app.kubernetes.io/version]\n";
  const fs::path config = dir / "agent.yml";
  write_file(config, common + "kubernetes_pods_url: https://127.0.0.1:" +
                         std::to_string(closed_port()) + "/api/v1/pods\n");
  // In-cluster environment of a DaemonSet pod, pointing at the loopback API server: used
  // once the config no longer names a URL.
  AgentProcess agent({"--no-bpf", "--no-leaks", "--profile-hz", "0", "--config", config.string()},
                     true,
                     {"env", "KUBERNETES_SERVICE_HOST=127.0.0.1",
                      "KUBERNETES_SERVICE_PORT=" + std::to_string(api.port()), "NODE_NAME=node-a"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();

  // The API unreachable: the target is served with the cgroup path's identity.
  std::string body;
  ASSERT_TRUE(poll_until([&] {
    body = http_get(agent.url("/metrics")).body;
    return !series_line(body, "goscry_target_info", pid).empty() &&
           value_of(body, "goscry_kube_pod_lists_total{result=\"error\"}") >= 1;
  }, 20s)) << agent.log() << body;
  EXPECT_NE(series_line(body, "goscry_target_info", pid)
                .find(",container_id=\"" + id +
                      "\",pod=\"pod-from-hostname\",namespace=\"ns-from-file\"} 1"),
            std::string::npos)
      << body;
  EXPECT_EQ(series_line(body, "goscry_target_pod_info", pid), "") << body;
  EXPECT_EQ(api.lists(), 0);

  // Pointed at the API server by SIGHUP: the pod list's identity replaces it.
  write_file(config, common);
  agent.signal(SIGHUP);
  const std::string want_info = "goscry_target_pod_info{pid=\"" + pid + "\",container_id=\"" +
                                id +
                                "\",namespace=\"team-payments\",pod=\"payments-api-5c7d9b8f6-"
                                "q4wzt\",container=\"server\",label_app=\"payments-api\","
                                "label_app_kubernetes_io_version=\"1.4.2\"} 1";
  ASSERT_TRUE(poll_until([&] {
    body = http_get(agent.url("/metrics")).body;
    return body.find("\n" + want_info + "\n") != std::string::npos;
  }, 20s)) << agent.log() << body;
  EXPECT_NE(series_line(body, "goscry_target_info", pid)
                .find(",container_id=\"" + id +
                      "\",pod=\"payments-api-5c7d9b8f6-q4wzt\",namespace=\"team-payments\"} 1"),
            std::string::npos)
      << body;
  // The old identity's series are gone, not left beside the new ones.
  EXPECT_EQ(body.find("pod-from-hostname"), std::string::npos) << body;
  // The in-cluster request: this node's pods only, with the service account's token.
  EXPECT_EQ(api.field_selector(), "spec.nodeName=node-a");
  EXPECT_EQ(api.authorization(), "Bearer " + token);
  // Three containers have ids (server, envoy, the init container); the pending one has none.
  EXPECT_EQ(value_of(body, "goscry_kube_containers"), 3) << body;
  EXPECT_EQ(value_of(body, "goscry_config_last_reload_successful"), 1) << body;
  auto check = run_command({"promtool", "check", "metrics"}, body);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << body;
  (*inside)->kill();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace goscry::testing
