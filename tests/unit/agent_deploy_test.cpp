// The DaemonSet's security as shipped: deploy/make-secrets.sh provisions the web config, and
// an agent run with the manifest's flags serves data only over TLS with basic auth while
// its health port answers a kubelet's probe without credentials and gives nothing else.
// The oracles: curl checking the certificate against the generated CA under the name
// Prometheus is told to expect, and the manifest's own text for the probes' port.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

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

}  // namespace
}  // namespace goscry::testing
