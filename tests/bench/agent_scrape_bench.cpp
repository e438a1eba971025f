// /metrics of the agent at 100 targets x top-50 creation sites (synthetic figures, fed
// through TargetMetrics as a tracker would): render time and size, then scrape latency
// over real HTTP with 20 concurrent scrapers, without and with gzip (Prometheus asks for
// gzip). Measures the render and HTTP path, not BPF. Every target carries container labels
// (container_id, pod, namespace), as in a Kubernetes node.
//   ninja -C build agent_scrape_bench && build/tests/bench/agent_scrape_bench
#include <httplib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "agent/http/http_server.h"
#include "agent/daemon/target_metrics.h"
#include "exporters/prometheus.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTargets = 100;
constexpr size_t kSiteCap = 50;
constexpr int kSitesPerTarget = 200;  // more than the cap: the fold runs too
constexpr int kScrapers = 20;
constexpr int kScrapesEach = 50;

goscry::TargetFigures figures(int t) {
  goscry::TargetFigures f;
  f.goroutines = 1000 + t;
  f.goroutines_created_total = 100000 + t;
  f.goroutines_exited_total = 99000 + t;
  f.gc_cycles_total = 500 + t;
  std::vector<goscry::prometheus::Ranked> sites;
  for (int s = 0; s < kSitesPerTarget; ++s)
    sites.push_back({"example.com/service/v2/internal/pkg" + std::to_string(s % 17) +
                         ".(*Worker).run.func" + std::to_string(s),
                     double((s * 7919 + t) % 1000)});
  f.goroutines_by_site = sites;
  for (const char* phase : {"sweep termination", "mark termination", "other"}) {
    goscry::PauseCounts c;
    for (size_t b = 0; b <= goscry::kStwPauseBucketsSeconds.size(); ++b)
      c.buckets.push_back(b * 3 + t);
    c.sum_seconds = 0.5 + t;
    f.stw_pauses[phase] = c;
  }
  return f;
}

// CPU time of this process (server and clients together): a figure the machine's load
// does not inflate the way it inflates latencies.
double cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

void scrape_run(int port, bool gzip, std::string_view what) {
  std::vector<std::vector<double>> lat(kScrapers);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  double cpu_start = cpu_ms();
  for (int i = 0; i < kScrapers; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_decompress(false);
      httplib::Headers h;
      if (gzip) h.emplace("Accept-Encoding", "gzip");
      for (int n = 0; n < kScrapesEach; ++n) {
        auto t0 = Clock::now();
        auto r = c.Get("/metrics", h);
        lat[i].push_back(ms(Clock::now() - t0));
        if (!r || r->status != 200) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  double wall = ms(Clock::now() - start);
  double cpu = cpu_ms() - cpu_start;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::printf("scrape %-6s %d scrapers x %d: p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
              "%.0f scrapes/s; CPU %.2f ms per scrape (server + client); %d failed\n",
              std::string(what).c_str(), kScrapers, kScrapesEach, percentile(all, 0.5),
              percentile(all, 0.99), percentile(all, 1.0), all.size() / (wall / 1000),
              cpu / double(all.size()), failures.load());
}

}  // namespace

int main() {
  goscry::prometheus::Registry registry;
  goscry::TargetMetrics metrics(registry, kSiteCap);
  for (int t = 0; t < kTargets; ++t) {
    goscry::TargetInfo info{1000 + t, 1, "/usr/local/bin/service-" + std::to_string(t % 7),
                            "go1.26.8"};
    // Every target in a pod: the container labels at their longest usual size, the worst
    // case for render time and size.
    char id[65];
    std::snprintf(id, sizeof id, "%064x", 0x5eed0000 + t);
    info.container_id = id;
    info.pod = "service-" + std::to_string(t % 7) + "-7d9f8b6c5-" + std::to_string(10000 + t);
    info.kube_namespace = "team-" + std::to_string(t % 5);
    metrics.publish(info, figures(t));
  }

  std::string body;
  std::vector<double> renders;
  for (int i = 0; i < 200; ++i) {
    body.clear();
    auto t0 = Clock::now();
    registry.render(body);
    renders.push_back(ms(Clock::now() - t0));
  }
  std::printf("render: %d targets x top-%zu sites: %zu series, %zu bytes, %zu lines; "
              "p50 %.2f ms, p99 %.2f ms\n",
              kTargets, kSiteCap, registry.series_count(), body.size(),
              size_t(std::count(body.begin(), body.end(), '\n')), percentile(renders, 0.5),
              percentile(renders, 0.99));

  auto server = goscry::HttpServer::create({});
  if (!server) return 1;
  (*server)->get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    std::string out;
    registry.render(out);
    res.set_content(std::move(out), std::string(goscry::prometheus::kContentType).c_str());
  });
  auto bound = (*server)->bind("127.0.0.1", 0);
  if (!bound) return 1;
  (*server)->start();
  int port = std::stoi(bound->substr(bound->rfind(':') + 1));
  scrape_run(port, false, "plain");
  scrape_run(port, true, "gzip");
  (*server)->stop();
  return 0;
}
