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

class PrometheusServer {
 public:
  // Scrapes 127.0.0.1:target_port every 200 ms (job "goscry").
  explicit PrometheusServer(int target_port);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // GET /api/v1/query; the "result" array, or null if the server is not answering yet.
  nlohmann::json query(const std::string& promql) const;
  // Polls until `promql` returns `want` series (the first scrapes may not have landed);
  // adds a test failure and returns the last answer after 60 s.
  nlohmann::json wait_for(const std::string& promql, size_t want) const;

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace goscry::testing
