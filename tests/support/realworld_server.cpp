#include "tests/support/realworld_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"
#include "tests/support/prometheus_server.h"
#include "tests/support/raw_http.h"
#include "tests/support/traceback_sandwich.h"

namespace goscry::testing {

std::optional<std::string> realworld_binary(const std::string& name) {
  std::ifstream manifest(GOSCRY_REALWORLD_MANIFEST);
  std::string n, path;
  while (manifest >> n >> path)
    if (n == name && access(path.c_str(), X_OK) == 0) return path;
  return std::nullopt;
}

RealServer::RealServer(const std::string& name) {
  dir_ =
      std::filesystem::temp_directory_path() / ("goscry-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

void RealServer::start(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int log = open((dir_ / "output.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = start_program(argv, -1, log, log, env, /*die_with_test=*/true);
  close(log);
}

RealServer::~RealServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RealServer::output() const {
  std::ifstream in(dir_ / "output.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

constexpr std::chrono::seconds kAnswerTimeout{10};

// A keep-alive HTTP client for a load: one request at a time, a new connection after a
// failed one.
class LoadClient {
 public:
  explicit LoadClient(int port) : port_(port) {}
  // Sends `request` and waits for its answer: true for a 2xx.
  bool exchange(const std::string& request) {
    if (!c_ || !c_->ok()) c_.emplace(port_);
    if (!c_->ok() || !c_->send(request)) return reset();
    auto r = c_->responses(1, kAnswerTimeout);
    if (r.empty()) return reset();
    const int status = status_of(r[0]);
    return status >= 200 && status < 300;
  }

 private:
  bool reset() {
    c_.reset();
    return false;
  }
  int port_;
  std::optional<RawConnection> c_;
};

// "/api/v1/query_range?..." over the last hour, one point every `step`, of `promql`
// (percent-encoded here: it is written plainly by the caller).
std::string range_query(const std::string& promql, const std::string& step) {
  std::string q;
  for (unsigned char ch : promql) {
    if (std::isalnum(ch) || ch == '_' || ch == '.') {
      q += char(ch);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", ch);
      q += hex;
    }
  }
  const long now = std::time(nullptr);
  return "/api/v1/query_range?query=" + q + "&start=" + std::to_string(now - 3600) +
         "&end=" + std::to_string(now) + "&step=" + step;
}

Result<void> wait_answering(const std::string& name, int port, const std::string& path,
                            const std::string& output_so_far = "") {
  if (wait_for_http("http://127.0.0.1:" + std::to_string(port) + path, 30).empty())
    return fail(ErrorKind::Io,
                name + " did not answer " + path + " within 30 s:\n" + output_so_far);
  return {};
}

// Debian's prometheus, scraping a port where nothing listens every 200 ms (its `up` and
// scrape_* series grow), loaded with PromQL range queries over them.
class PrometheusSuite : public SuiteServer {
 public:
  PrometheusSuite() : server_(free_port()), client_(server_.port()) {}
  std::string name() const override { return "prometheus"; }
  pid_t pid() const override { return server_.pid(); }
  int pprof_port() const override { return server_.port(); }
  int client_port() const override { return server_.port(); }
  std::optional<int> metrics_port() const override { return server_.port(); }
  // goroutines_serving_metrics() is not fixed: client_golang's Registry.Gather runs its
  // collectors on worker goroutines it starts while its channel fills, one to many per
  // scrape, and the NumGoroutine of its go_goroutines counts them.
  bool load_step() override {
    return client_.exchange(get_request(range_query(
               "sum by (job) (rate(scrape_duration_seconds[1m])) + count_over_time(up[5m])",
               "1"))) &&
           client_.exchange(get_request(
               range_query("quantile_over_time(0.9, scrape_samples_scraped[10m]) or up", "2")));
  }

 private:
  PrometheusServer server_;
  LoadClient client_;
};

// nats-server with JetStream and its pprof port, loaded with batches of publishes to a
// subject one client subscribes to. It runs at nice -10 (`nice` execs it: the pid stays):
// under its lock-heavy load its own CPU profile is only right while nothing preempts it
// (realworld_nats_test.cpp).
class NatsSuite : public SuiteServer {
 public:
  NatsSuite() : server_("nats"), port_(free_port()), profile_(free_port()) {}
  Result<void> start(const std::string& binary) {
    server_.start({"nice", "-n", "-10", binary, "-a", "127.0.0.1", "-p", std::to_string(port_),
                   "-profile", std::to_string(profile_), "-js", "-sd",
                   (server_.dir() / "jetstream").string()});
    if (auto up = wait_answering("nats-server", profile_, "/debug/pprof/goroutine?debug=2",
                                 server_.output());
        !up)
      return up;
    // Its profiler listens first, its clients' port once JetStream is up: a client 18 ms
    // after the profiler answered was refused once in CI. Each client is greeted by INFO.
    const bool greeted = poll_until([&] {
      RawConnection c(port_);
      return c.ok() && c.read_until("INFO ", std::chrono::seconds(5));
    });
    if (greeted) return {};
    return fail(ErrorKind::Io, "nats-server did not greet a client on port " +
                                   std::to_string(port_) + " within 30 s:\n" + server_.output());
  }
  std::string name() const override { return "nats-server"; }
  pid_t pid() const override { return server_.pid(); }
  int pprof_port() const override { return profile_; }
  int client_port() const override { return port_; }
  bool load_step() override {
    if (!publisher_ && !connect()) return false;
    std::string batch;
    const std::string payload(64, 'x');
    for (int i = 0; i < 200; ++i) batch += "PUB goscry.load 64\r\n" + payload + "\r\n";
    // PING after the batch: its PONG comes once the server handled every PUB; the
    // subscriber's PONG comes after every message the batch sent it.
    bool ok = publisher_->send(batch + "PING\r\n") &&
              publisher_->read_until("PONG\r\n", kAnswerTimeout) && subscriber_->send("PING\r\n") &&
              subscriber_->read_until("PONG\r\n", kAnswerTimeout);
    if (!ok) {
      publisher_.reset();
      subscriber_.reset();
    }
    return ok;
  }

 private:
  bool connect() {
    publisher_.emplace(port_);
    subscriber_.emplace(port_);
    const std::string hello = "CONNECT {\"verbose\":false}\r\n";
    return publisher_->ok() && subscriber_->ok() && publisher_->send(hello + "PING\r\n") &&
           publisher_->read_until("PONG\r\n", kAnswerTimeout) &&
           subscriber_->send(hello + "SUB goscry.load 1\r\nPING\r\n") &&
           subscriber_->read_until("PONG\r\n", kAnswerTimeout);
  }
  RealServer server_;
  int port_, profile_;
  std::optional<RawConnection> publisher_, subscriber_;
};

// VictoriaMetrics single-node, loaded with inserts (Prometheus text format) and range
// queries over what was inserted.
class VictoriaMetricsSuite : public SuiteServer {
 public:
  VictoriaMetricsSuite() : server_("victoria-metrics"), port_(free_port()), client_(port_) {}
  Result<void> start(const std::string& binary) {
    server_.start({binary, "-httpListenAddr=127.0.0.1:" + std::to_string(port_),
                   "-storageDataPath=" + (server_.dir() / "data").string(), "-loggerLevel=ERROR"});
    return wait_answering("victoria-metrics", port_, "/debug/pprof/goroutine?debug=2",
                          server_.output());
  }
  std::string name() const override { return "victoria-metrics"; }
  pid_t pid() const override { return server_.pid(); }
  int pprof_port() const override { return port_; }
  int client_port() const override { return port_; }
  std::optional<int> metrics_port() const override { return port_; }
  // Fixed: it counts NumGoroutine in the handler itself (VictoriaMetrics/metrics'
  // WriteProcessMetrics), where the only goroutine the request adds is net/http's
  // background read of the connection (connReader.startBackgroundRead).
  std::optional<int> goroutines_serving_metrics() const override { return 1; }
  bool load_step() override {
    std::string lines;
    for (int m = 0; m < 10; ++m)
      for (int l = 0; l < 20; ++l)
        lines += "goscry_load_" + std::to_string(m) + "{instance=\"i" + std::to_string(l) + "\"} " +
                 std::to_string(++value_) + "\n";
    return client_.exchange(post_request("/api/v1/import/prometheus", lines)) &&
           client_.exchange(get_request(
               range_query("sum by (instance) (rate({__name__=~\"goscry_load_.*\"}[1m]))", "10")));
  }

 private:
  RealServer server_;
  int port_;
  LoadClient client_;
  long value_ = 0;
};

Result<std::string> built(const std::string& name) {
  auto binary = realworld_binary(name);
  if (!binary)
    return fail(ErrorKind::NotFound,
                name + " was not built: scripts/build-realworld.sh named its log");
  return *binary;
}

}  // namespace

Result<std::unique_ptr<SuiteServer>> start_prometheus() {
  if (run_command({"sh", "-c", "command -v prometheus"}).exit_code != 0)
    return fail(ErrorKind::NotFound, "prometheus is not installed (scripts/setup.sh installs it)");
  auto server = std::make_unique<PrometheusSuite>();
  if (auto up =
          wait_answering("prometheus", server->pprof_port(), "/debug/pprof/goroutine?debug=2");
      !up)
    return std::unexpected(up.error());
  return server;
}

Result<std::unique_ptr<SuiteServer>> start_nats() {
  auto binary = built("nats-server");
  if (!binary) return std::unexpected(binary.error());
  auto server = std::make_unique<NatsSuite>();
  if (auto up = server->start(*binary); !up) return std::unexpected(up.error());
  return server;
}

Result<std::unique_ptr<SuiteServer>> start_victoria_metrics() {
  auto binary = built("victoria-metrics");
  if (!binary) return std::unexpected(binary.error());
  auto server = std::make_unique<VictoriaMetricsSuite>();
  if (auto up = server->start(*binary); !up) return std::unexpected(up.error());
  return server;
}

std::vector<std::string> goroutines_serving_traceback(const std::string& debug2) {
  std::vector<std::string> ids;
  const auto blocks = traceback_blocks(debug2);
  for (const auto& [id, block] : blocks)
    if (block.find("\nruntime/pprof.writeGoroutineStacks(") != std::string::npos) ids.push_back(id);
  if (ids.size() != 1) return ids;
  // Go 1.21+ names the creator's goroutine; before, the request's background read is known
  // by its creator alone (it lives only while a request is served).
  const std::string started_by_writer = " in goroutine " + ids[0] + "\n";
  const std::string background_read_pre121 =
      "\ncreated by net/http.(*connReader).startBackgroundRead\n";
  for (const auto& [id, block] : blocks)
    if (block.find(started_by_writer) != std::string::npos ||
        block.find(background_read_pre121) != std::string::npos)
      ids.push_back(id);
  return ids;
}

// The program's traceback over a connection kept open, or empty when it did not answer.
std::string debug2_over(RawConnection& c, const std::string& path) {
  if (!c.send(get_request(path))) return "";
  auto r = c.responses(1, std::chrono::seconds(10));
  return r.empty() || status_of(r[0]) != 200 ? "" : body_of(r[0]);
}

std::int64_t own_live_count(const std::string& debug2) {
  const auto serving = goroutines_serving_traceback(debug2);
  const std::size_t request_only = serving.empty() ? 0 : serving.size() - 1;
  return std::int64_t(traceback_blocks(debug2).size() - request_only);
}

namespace {

void expect_top_live_matches(const std::string& name, pid_t pid, int port,
                             const std::string& path) {
  RawConnection c(port);
  ASSERT_TRUE(c.ok()) << name << ": its debug port " << port << " refused";
  // Its count may change between the reads (a timer, a housekeeping goroutine): the moments
  // when it read the same before and after are the ones compared, up to ten tries.
  std::int64_t before = -1, after = -2, live = -3;
  int tries = 0;
  for (; tries < 10 && (before != after || live != before); ++tries) {
    const std::string own = debug2_over(c, path);
    auto top = run_command({goscry_binary(), "top", "--pid", std::to_string(pid), "--once",
                            "--interval", "50ms", "--format", "json"});
    const std::string own_after = debug2_over(c, path);
    ASSERT_EQ(top.exit_code, 0) << top.err;
    ASSERT_FALSE(own.empty() || own_after.empty()) << name << ": its debug=2 did not answer";
    auto report = nlohmann::json::parse(top.out, nullptr, false);
    ASSERT_TRUE(report.is_object()) << top.out;
    before = own_live_count(own);
    after = own_live_count(own_after);
    live = report["goroutines"]["live"].get<std::int64_t>();
  }
  EXPECT_EQ(before, after) << name << ": its own count never held still over ten tries";
  EXPECT_EQ(live, before) << name << ": goscry top's live count against its own (" << tries
                          << " tries)";
  std::printf("%s: top live %lld, its own count %lld (%d tries)\n", name.c_str(),
              static_cast<long long>(live), static_cast<long long>(before), tries);
}

}  // namespace

void expect_goscry_agrees_with_own_runtime(const std::string& name, pid_t pid, int debug2_port,
                                           const std::string& debug2_path,
                                           std::size_t min_compared) {
  const std::string url = "http://127.0.0.1:" + std::to_string(debug2_port) + debug2_path;
  auto sandwich = dump_between_own_tracebacks(pid, [&] { return http_body(url); });
  EXPECT_GE(sandwich.compared, min_compared) << name << ": too few goroutines held still";
  EXPECT_EQ(sandwich.differences, "") << name << ": " << sandwich.compared << " compared";
  std::printf("%s: %zu goroutines compared, %zu byte-identical\n", name.c_str(), sandwich.compared,
              sandwich.identical);
  expect_top_live_matches(name, pid, debug2_port, debug2_path);
}

}  // namespace goscry::testing
