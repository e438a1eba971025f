// The Prometheus server itself is the oracle here: it scrapes a rendered registry over
// HTTP, and what its query API answers must be exactly what the test put in — label
// values with every character a Go symbol or a path can hold, histogram counts, floats.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "exporters/cardinality_cap.h"
#include "exporters/prometheus.h"
#include "tests/support/fixtures.h"
#include "tests/support/prometheus_server.h"

namespace goscry::prometheus {
namespace {

using goscry::testing::PrometheusServer;
using nlohmann::json;

// Serves registry.render() to every request on 127.0.0.1 — the smallest /metrics there is.
class MetricsServer {
 public:
  explicit MetricsServer(const Registry& registry) : registry_(registry) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("metrics server: cannot listen");
    port_ = ntohs(addr.sin_port);
    if (pipe2(stop_, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    thread_ = std::thread([this] { serve(); });
  }
  ~MetricsServer() {
    (void)!write(stop_[1], "x", 1);
    thread_.join();
    close(fd_);
    close(stop_[0]);
    close(stop_[1]);
  }
  int port() const { return port_; }
  int scrapes() const { return scrapes_; }

 private:
  void serve() {
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents) return;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, n);
      }
      std::string body = registry_.render();
      std::string response = "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(kContentType) +
                             "\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\nConnection: close\r\n\r\n" + body;
      for (size_t done = 0; done < response.size();) {
        ssize_t n = write(c, response.data() + done, response.size() - done);
        if (n <= 0) break;
        done += n;
      }
      close(c);
      ++scrapes_;
    }
  }

  const Registry& registry_;
  int fd_ = -1;
  int port_ = 0;
  int stop_[2] = {-1, -1};
  std::atomic<int> scrapes_{0};
  std::thread thread_;
};

std::map<std::string, std::string> labels_of(const json& series) {
  std::map<std::string, std::string> labels;
  for (auto& [k, v] : series["metric"].items()) labels[k] = v.get<std::string>();
  return labels;
}

TEST(PrometheusScrape, ServerReadsBackLabelsValuesAndHistogramCounts) {
  Registry registry;
  // Values are distinct so each series can be matched to the label it was given.
  const std::map<std::string, double> sites = {
      {"main.(*T).M", 1},
      {"main.F[...]", 2},
      {"example.com/x/v2.(*Server[go.shape.string]).Serve.func1", 3},
      {"back\\slash", 4},
      {"dou\"ble", 5},
      {"new\nline", 6},
      {"tab\tand \xc3\xa9\xf0\x9f\x90\xb9", 7},
      {"", 8},
      {"{le=\"x\"},=#", 0.000125},
      {"huge", 1.5e300},
      {std::string("nul\0and\x1b[0m", 11), 9},  // NUL and ESC
  };
  auto& g = registry.gauge("goscry_test_site_value", "Per site.", {"site"});
  for (const auto& [site, v] : sites) g.with({site}).set(v);
  g.with({"bad\xffutf8"}).set(-1);

  auto& h = registry.histogram("goscry_test_pause_seconds", "Pauses.", {"phase"},
                               {0.00001, 0.0001, 0.001, 0.01});
  const std::vector<double> pauses = {0.000005, 0.00002, 0.00003, 0.0004, 0.0005,
                                      0.0006,   0.002,   0.5,     7};
  for (double p : pauses) h.with({"mark termination"}).observe(p);

  CappedGaugeFamily capped(registry, "goscry_test_by_site", "Top sites.", {"pid"}, "site", 2);
  capped.update({"42"}, {{"a", 10}, {"b", 20}, {"c", 1}, {"d", 2}});

  MetricsServer metrics(registry);
  PrometheusServer prometheus(metrics.port());

  json got = prometheus.wait_for("goscry_test_site_value", sites.size() + 1);
  std::map<std::string, double> back;
  for (const auto& s : got)
    back[labels_of(s)["site"]] = std::stod(s["value"][1].get<std::string>());
  for (const auto& [site, v] : sites) {
    ASSERT_TRUE(back.contains(site)) << "lost label value: " << site;
    EXPECT_EQ(back[site], v) << site;
  }
  EXPECT_EQ(back["bad\xEF\xBF\xBDutf8"], -1);

  // Cumulative bucket counts and _count as observed.
  json buckets = prometheus.wait_for("goscry_test_pause_seconds_bucket", 5);
  std::map<std::string, double> by_le;
  for (const auto& s : buckets)
    by_le[labels_of(s)["le"]] = std::stod(s["value"][1].get<std::string>());
  EXPECT_EQ(labels_of(buckets[0])["phase"], "mark termination");
  EXPECT_EQ(by_le["1e-05"], 1);
  EXPECT_EQ(by_le["0.0001"], 3);
  EXPECT_EQ(by_le["0.001"], 6);
  EXPECT_EQ(by_le["0.01"], 7);
  EXPECT_EQ(by_le["+Inf"], 9);
  json count = prometheus.wait_for("goscry_test_pause_seconds_count", 1);
  EXPECT_EQ(std::stod(count[0]["value"][1].get<std::string>()), double(pauses.size()));
  json sum = prometheus.wait_for("goscry_test_pause_seconds_sum", 1);
  double want_sum = 0;
  for (double p : pauses) want_sum += p;
  EXPECT_DOUBLE_EQ(std::stod(sum[0]["value"][1].get<std::string>()), want_sum);
  // Prometheus' own estimate lands in the bucket the median is in (0.0001, 0.001].
  json q = prometheus.wait_for("histogram_quantile(0.5, goscry_test_pause_seconds_bucket)", 1);
  double median = std::stod(q[0]["value"][1].get<std::string>());
  EXPECT_GT(median, 0.0001);
  EXPECT_LE(median, 0.001);

  // The fold: b, a kept; c + d in "other"; 2 folded.
  json top = prometheus.wait_for("goscry_test_by_site", 3);
  std::map<std::string, double> top_back;
  for (const auto& s : top)
    top_back[labels_of(s)["site"]] = std::stod(s["value"][1].get<std::string>());
  EXPECT_EQ(top_back, (std::map<std::string, double>{{"a", 10}, {"b", 20}, {"other", 3}}));
  json folded =
      prometheus.wait_for("goscry_label_cap_folded_series{metric=\"goscry_test_by_site\"}", 1);
  EXPECT_EQ(folded[0]["value"][1], "2");

  // And the scrape itself was healthy.
  json up = prometheus.wait_for("up{job=\"goscry\"} == 1", 1);
  EXPECT_GT(metrics.scrapes(), 0);
}

}  // namespace
}  // namespace goscry::prometheus
