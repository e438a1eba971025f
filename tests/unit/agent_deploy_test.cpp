// The DaemonSet's security as shipped: deploy/make-secrets.sh provisions the web config, and
// an agent run with the manifest's flags serves data only over TLS with basic auth while
// its health port answers a kubelet's probe without credentials and gives nothing else.
// The oracles: curl checking the certificate against the generated CA under the name
// Prometheus is told to expect, a real Prometheus (Debian's) scraping with the generated
// files as docs/agent.md configures it, and the manifest's own text for the probes' port.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"
#include "tests/support/prometheus_server.h"

namespace goscry::testing {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(AgentDeploy, GeneratedSecretsGiveTlsAndAuthOnDataAndOpenProbesOnHealthOnly) {
  const fs::path dir = fs::temp_directory_path() / ("goscry-deploy-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto made = run_command(
      {"bash", std::string(GOSCRY_SOURCE_DIR) + "/deploy/make-secrets.sh", dir.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string password = slurp(dir / "prometheus/password");
  ASSERT_GE(password.size(), 32u);

  AgentProcess agent({"--no-bpf", "--web.config.file", (dir / "agent/web.yml").string(),
                      "--health.listen", "127.0.0.1:0"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  std::smatch m;
  const std::string log = agent.log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("health on 127\\.0\\.0\\.1:(\\d+)"))) << log;
  const std::string health = "http://127.0.0.1:" + m[1].str();
  const std::string port = std::to_string(agent.port());
  // As Prometheus scrapes with deploy/podmonitor.yaml: the CA, server name goscry-agent.
  auto scrape = [&](const std::string& path, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--cacert", (dir / "prometheus/ca.crt").string(),
                                     "--connect-to",
                                     "goscry-agent:" + port + ":127.0.0.1:" + port};
    args.insert(args.end(), extra.begin(), extra.end());
    return http_get("https://goscry-agent:" + port + path, args);
  };

  auto ok = scrape("/metrics", {"-u", "prometheus:" + password});
  EXPECT_EQ(ok.status, 200) << ok.error;
  EXPECT_NE(ok.body.find("goscry_build_info"), std::string::npos);
  EXPECT_EQ(scrape("/metrics", {}).status, 401);
  EXPECT_EQ(scrape("/api/v1/targets", {"-u", "prometheus:wrong"}).status, 401);
  EXPECT_EQ(http_get("http://127.0.0.1:" + port + "/metrics").status, 400) << "plain HTTP";

  auto probe = http_get(health + "/healthz");
  EXPECT_EQ(probe.status, 200) << probe.error;
  EXPECT_EQ(probe.body, "ok\n");
  for (const char* data : {"/metrics", "/api/v1/targets", "/", "/debug/pprof/goroutine?pid=1"})
    EXPECT_EQ(http_get(health + data).status, 404) << data;

  // The manifest runs the agent this way and points both probes at the health port.
  const std::string manifest = slurp(std::string(GOSCRY_SOURCE_DIR) + "/deploy/daemonset.yaml");
  EXPECT_NE(manifest.find("\"--web.config.file\", \"/etc/goscry-web/web.yml\""),
            std::string::npos);
  EXPECT_NE(manifest.find("\"--health.listen\", \"0.0.0.0:19465\""), std::string::npos);
  EXPECT_EQ(count_of(manifest, "httpGet: {path: /healthz, port: health}"), 2u);
  EXPECT_EQ(count_of(manifest, "port: metrics}"), 0u) << "a probe on the data port gets 401";
  fs::remove_all(dir);
}

// The scrape target's lastError as Prometheus reports it, once it contains `cause` (the
// first failed scrapes may have failed otherwise, e.g. before the agent listened); the last
// one seen after 60 s.
std::string last_error_naming(const PrometheusServer& prometheus, const std::string& cause) {
  std::string last;
  poll_until(
      [&] {
        auto targets = prometheus.active_targets();
        if (!targets.is_array() || targets.size() != 1) return false;
        last = targets[0].value("lastError", "");
        return last.find(cause) != std::string::npos;
      },
      std::chrono::seconds(60));
  return last;
}

// A real Prometheus scrapes the agent run as deploy/daemonset.yaml runs it (the generated
// web.yml: TLS and basic auth), with the generated CA, user and password file and the
// server name the certificate carries: docs/agent.md's scrape config, with static_configs
// for kubernetes_sd_configs (no cluster here; Debian's prometheus is built without it). The
// controls, the same Prometheus with a wrong password or without the CA, get nothing and
// say why.
TEST(AgentDeploy, PrometheusScrapesTheSecureAgentWithTheGeneratedCredentialsAndOnlyWithThem) {
  const fs::path dir = fs::temp_directory_path() / ("goscry-scrape-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto made = run_command(
      {"bash", std::string(GOSCRY_SOURCE_DIR) + "/deploy/make-secrets.sh", dir.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  // The user name as the Secret goscry-scrape hands it to Prometheus.
  std::smatch user;
  const std::string secrets = slurp(dir / "secrets.yaml");
  ASSERT_TRUE(std::regex_search(secrets, user, std::regex("\n  username: (\\S+)\n"))) << secrets;
  std::ofstream(dir / "wrong-password") << "not-" << slurp(dir / "prometheus/password");

  AgentProcess agent({"--no-bpf", "--web.config.file", (dir / "agent/web.yml").string(),
                      "--health.listen", "127.0.0.1:0"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ScrapeSettings as_documented{.scheme = "https",
                               .ca_file = (dir / "prometheus/ca.crt").string(),
                               .server_name = "goscry-agent",
                               .username = user[1].str(),
                               .password_file = (dir / "prometheus/password").string()};
  ScrapeSettings wrong_password = as_documented;
  wrong_password.password_file = (dir / "wrong-password").string();
  ScrapeSettings without_ca = as_documented;
  without_ca.ca_file.clear();
  PrometheusServer prometheus(agent.port(), as_documented);
  PrometheusServer with_wrong_password(agent.port(), wrong_password);
  PrometheusServer with_system_cas(agent.port(), without_ca);

  auto up = prometheus.wait_for("up{job=\"goscry\"} == 1", 1);
  auto build = prometheus.wait_for("goscry_build_info{job=\"goscry\"}", 1);
  std::printf("as documented: up %s, goscry_build_info %s\n", up.dump().c_str(),
              build.dump().c_str());

  // Any successful scrape in the test's lifetime.
  const std::string ever_up = "max_over_time(up{job=\"goscry\"}[5m]) == 1";
  with_wrong_password.wait_for("up{job=\"goscry\"} == 0", 1);
  EXPECT_EQ(with_wrong_password.query(ever_up), nlohmann::json::array());
  const std::string refused = last_error_naming(with_wrong_password, "401");
  std::printf("wrong password: lastError \"%s\"\n", refused.c_str());
  EXPECT_NE(refused.find("401"), std::string::npos) << refused;

  with_system_cas.wait_for("up{job=\"goscry\"} == 0", 1);
  EXPECT_EQ(with_system_cas.query(ever_up), nlohmann::json::array());
  const std::string untrusted = last_error_naming(with_system_cas, "certificate");
  std::printf("without the CA: lastError \"%s\"\n", untrusted.c_str());
  EXPECT_NE(untrusted.find("certificate signed by unknown authority"), std::string::npos)
      << untrusted;

  // What was scraped here is what docs/agent.md tells users to write.
  const std::string docs = slurp(std::string(GOSCRY_SOURCE_DIR) + "/docs/agent.md");
  for (const std::string& line : std::vector<std::string>{
           "    scheme: https\n", "      ca_file: /etc/prometheus/goscry/ca.crt\n",
           "      server_name: goscry-agent ", "      username: " + user[1].str() + "\n",
           "      password_file: /etc/prometheus/goscry/password\n"})
    EXPECT_NE(docs.find(line), std::string::npos) << line;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace goscry::testing
