// A real Prometheus server (Debian's `prometheus`) on loopback, scraping one target: the
// oracle of the scrape tests. Started by the constructor, killed by the destructor.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace goscry::testing {

// A TCP port that was free a moment ago on 127.0.0.1.
int free_port();

// How Prometheus reaches the target: the fields of the scrape config that docs/agent.md and
// deploy/podmonitor.yaml use for the secure DaemonSet. Empty fields are left out of the
// config, so the default is plain HTTP without credentials.
struct ScrapeSettings {
  std::string scheme = "http";
  std::string ca_file;        // tls_config.ca_file
  std::string server_name;    // tls_config.server_name
  std::string username;       // basic_auth.username
  std::string password_file;  // basic_auth.password_file
};

class PrometheusServer {
 public:
  // Scrapes 127.0.0.1:target_port every 200 ms (job "goscry").
  explicit PrometheusServer(int target_port, const ScrapeSettings& scrape = {});
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // GET /api/v1/query; the "result" array, or null if the server is not answering yet.
  nlohmann::json query(const std::string& promql) const;
  // Polls until `promql` returns `want` series (the first scrapes may not have landed);
  // adds a test failure and returns the last answer after 60 s.
  nlohmann::json wait_for(const std::string& promql, size_t want) const;
  // GET /api/v1/targets: the "activeTargets" array (with each one's health and lastError),
  // or null if the server is not answering yet.
  nlohmann::json active_targets() const;

  pid_t pid() const { return pid_; }
  // Its own web port: the API, /metrics and /debug/pprof/*.
  int port() const { return port_; }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace goscry::testing
