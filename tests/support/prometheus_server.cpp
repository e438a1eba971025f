#include "tests/support/prometheus_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/support/fixtures.h"

namespace goscry::testing {

using nlohmann::json;

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

namespace {

// The job's settings besides its target, in the shape of docs/agent.md's scrape config.
std::string scrape_settings_yaml(const ScrapeSettings& s) {
  std::string y = "    scheme: " + s.scheme + "\n";
  if (!s.ca_file.empty() || !s.server_name.empty()) {
    y += "    tls_config:\n";
    if (!s.ca_file.empty()) y += "      ca_file: " + s.ca_file + "\n";
    if (!s.server_name.empty()) y += "      server_name: " + s.server_name + "\n";
  }
  if (!s.username.empty()) {
    y += "    basic_auth:\n      username: " + s.username + "\n";
    if (!s.password_file.empty()) y += "      password_file: " + s.password_file + "\n";
  }
  return y;
}

}  // namespace

PrometheusServer::PrometheusServer(int target_port, const ScrapeSettings& scrape) {
  port_ = free_port();
  // Named by Prometheus' own port too: a test may run several against one target.
  dir_ = std::filesystem::temp_directory_path() /
         ("goscry-prom-" + std::to_string(getpid()) + "-" + std::to_string(target_port) + "-" +
          std::to_string(port_));
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "prometheus.yml")
      << "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n"
      << "scrape_configs:\n  - job_name: goscry\n"
      << scrape_settings_yaml(scrape) << "    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << target_port << "']\n";
  std::vector<std::string> argv = {"prometheus",
                                   "--config.file=" + (dir_ / "prometheus.yml").string(),
                                   "--storage.tsdb.path=" + (dir_ / "data").string(),
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                   "--log.level=error"};
  pid_ = start_program(argv, -1, -1, -1);
}

PrometheusServer::~PrometheusServer() {
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

namespace {

// The "data" of one answer of Prometheus' HTTP API, or null when there is none.
json api_data(int port, const std::string& path, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"curl", "-sf", "--max-time", "5",
                                   "http://127.0.0.1:" + std::to_string(port) + path};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = run_command(argv);
  if (r.exit_code != 0) return nullptr;
  json j = json::parse(r.out, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") return nullptr;
  return j["data"];
}

}  // namespace

json PrometheusServer::query(const std::string& promql) const {
  json data = api_data(port_, "/api/v1/query", {"--data-urlencode", "query=" + promql});
  return data.is_null() ? data : data["result"];
}

json PrometheusServer::active_targets() const {
  json data = api_data(port_, "/api/v1/targets?state=active", {});
  return data.is_null() ? data : data["activeTargets"];
}

json PrometheusServer::wait_for(const std::string& promql, size_t want) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  json last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = query(promql);
    if (last.is_array() && last.size() == want) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll interval
  }
  ADD_FAILURE() << "no " << want << " series for " << promql << " within 60 s; last: " << last;
  return last;
}

}  // namespace goscry::testing
