// The agent's HTTP server under the attacks and careless clients of issue 14, played on
// loopback against a real `goscry agent` process: slowloris, a thousand requests at once,
// pipelining, keep-alive timing, a second agent on the same port. The oracle for "holds" is
// a kubelet-like /healthz probe on a fresh connection every 50 ms throughout the attack,
// and the agent's own VmRSS from /proc. Every attack is bounded in connections and time.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/processes.h"
#include "tests/support/raw_http.h"

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;

// The goal of issue 14 is a p99 under 100 ms; the assertion leaves room for the two cores
// this suite shares with four other builds (the figure measured is printed and recorded).
constexpr auto kHealthzP99Limit = 300ms;
// /healthz on the data port itself while a thousand requests per wave are answered there.
constexpr auto kDataPortUnderFloodLimit = 1500ms;
// The agent's memory budget with no targets' data to hold: the attacks must not grow it.
constexpr std::size_t kRssBudget = 96u << 20;

// Probes /healthz on a fresh connection every 50 ms, as a kubelet does (more often), until
// destroyed; a probe that gets no answer within 6 s counts as 6 s.
class HealthProbe {
 public:
  explicit HealthProbe(int port)
      : thread_([this, port] {
          while (!stop_) {
            int status = 0;
            auto took = timed_get(port, "/healthz", &status, 6s);
            std::lock_guard lock(mu_);
            samples_.push_back(took);
            if (status != 200) ++failures_;
            std::this_thread::sleep_for(50ms);  // the probe's period, not a wait for an event
          }
        }) {}
  ~HealthProbe() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::chrono::microseconds p99() {
    std::lock_guard lock(mu_);
    return percentile(samples_, 99);
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return samples_.size();
  }
  int failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::chrono::microseconds> samples_;
  int failures_ = 0;
  std::thread thread_;
};

class AgentHttpAttack : public ::testing::Test {
 protected:
  void SetUp() override {
    raise_fd_limit();
    target_ = std::make_unique<HeldProcess>(std::vector<std::string>{hello_fixture(), "wait"});
    agent_ = std::make_unique<AgentProcess>(std::vector<std::string>{
        "--no-bpf", "--pid", std::to_string(target_->pid()), "--health.listen", "127.0.0.1:0"});
    ASSERT_TRUE(agent_->wait_listening()) << agent_->log();
    port_ = agent_->port();
    const std::string log = agent_->log();
    auto at = log.find("health on 127.0.0.1:");
    ASSERT_NE(at, std::string::npos) << log;
    health_port_ = std::stoi(log.substr(at + 20));
    int status = 0;
    ASSERT_TRUE(poll_until([&] {
      timed_get(port_, "/healthz", &status, 2s);
      return status == 200;
    }));
  }
  void report(const char* attack, HealthProbe& probe,
              std::chrono::milliseconds limit = kHealthzP99Limit) {
    probe.finish();
    auto p99 = probe.p99();
    std::printf("%s: /healthz p99 %.1f ms over %zu probes, %d failed; agent RSS %.1f MiB\n",
                attack, double(p99.count()) / 1000, probe.count(), probe.failures(),
                double(agent_->rss_bytes()) / (1 << 20));
    RecordProperty("healthz_p99_us", std::to_string(p99.count()));
    EXPECT_EQ(probe.failures(), 0);
    EXPECT_LT(p99, limit);
    EXPECT_LT(agent_->rss_bytes(), kRssBudget);
  }

  std::unique_ptr<HeldProcess> target_;
  std::unique_ptr<AgentProcess> agent_;
  int port_ = 0;
  int health_port_ = 0;  // the health listener (--health.listen), as a kubelet probes it
};

// Slowloris: a thousand connections each send a request line and then one header line a
// second, never finishing. cpp-httplib gave each a pool thread (32): 40 such clients kept
// /healthz from answering for over 5 s.
TEST_F(AgentHttpAttack, HealthzAnswersWhileAThousandClientsDripHeaders) {
  std::vector<RawConnection> slow;
  for (int i = 0; i < 1000; ++i) {
    slow.emplace_back(port_);
    ASSERT_TRUE(slow.back().ok()) << "connection " << i;
    slow.back().send("GET /metrics HTTP/1.1\r\nHost: x\r\n");
  }
  HealthProbe probe(port_), health_port_probe(health_port_);
  // Six seconds of dripping: one header line per connection per second (the attack's pace).
  for (int second = 0; second < 6; ++second) {
    for (auto& c : slow) c.send("X-Drip-" + std::to_string(second) + ": 1\r\n");
    std::this_thread::sleep_for(1s);
  }
  report("slowloris x1000 (data port)", probe);
  report("slowloris x1000 (health port)", health_port_probe);
  // And the agent ends them itself: a request head has 10 s to arrive, whatever its pace.
  EXPECT_TRUE(poll_until(
      [&] {
        for (auto& c : slow)
          if (!c.closed_by_peer()) return false;
        return true;
      },
      15s))
      << "slow connections still open after the request deadline";
}

// A connection flood: more connections to the data port than its cap (4,096), opened as fast
// as the test can, every other one with half a request head and the rest with nothing, all
// held. Connections over the cap are closed at accept; the health listener has its own
// loop, thread and cap, so a kubelet's probe must not notice the flood; and when it ends
// the data port answers a scrape again.
TEST_F(AgentHttpAttack, HealthPortAnswersWhileTheDataPortIsFloodedBeyondItsConnectionCap) {
  constexpr int kFlood = 5000;
  constexpr int kDataPortCap = 4096;  // kMaxConnections in agent/http/http_server.cpp
  rlimit fds{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &fds), 0);
  ASSERT_GE(fds.rlim_cur, rlim_t{kFlood + 200}) << "the test's own fd limit";

  HealthProbe probe(health_port_);
  const std::size_t rss_before = agent_->rss_bytes();
  std::vector<RawConnection> flood;
  flood.reserve(kFlood);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kFlood; ++i) {
    flood.emplace_back(port_);
    ASSERT_TRUE(flood.back().ok()) << "connection " << i << " refused";
    if (i % 2 == 0) flood.back().send("GET /metrics HTTP/1.1\r\nHost: x\r\n");
  }
  const auto opened = std::chrono::steady_clock::now() - start;
  // Held for six seconds, short of the 10 s the agent gives a request head.
  std::size_t peak_rss = 0;
  while (std::chrono::steady_clock::now() - start < 6s) {
    peak_rss = std::max(peak_rss, agent_->rss_bytes());
    std::this_thread::sleep_for(100ms);  // the RSS sampling period
  }
  int closed = 0;
  for (auto& c : flood) closed += c.closed_by_peer();
  std::printf("connection flood x%d: opened in %.2f s, %d closed by the agent at its cap; "
              "agent RSS %.1f MiB before, peak %.1f MiB\n",
              kFlood, std::chrono::duration<double>(opened).count(), closed,
              double(rss_before) / (1 << 20), double(peak_rss) / (1 << 20));
  report("connection flood x5000 on the data port (health port)", probe, 100ms);
  EXPECT_GE(closed, kFlood - kDataPortCap) << "the data port held more than its cap";
  // A few more when the agent still counted SetUp's probe; many more would mean it dropped
  // connections under its cap.
  EXPECT_LE(closed, kFlood - kDataPortCap + 16);
  EXPECT_LT(peak_rss, kRssBudget);

  flood.clear();  // the flood ends: every connection closed by the client
  int status = 0;
  EXPECT_TRUE(poll_until([&] {
    timed_get(port_, "/metrics", &status, 2s);
    return status == 200;
  })) << "no /metrics on the data port after the flood; last status " << status;
}

// Five waves of a thousand complete /metrics requests at once, each on its own connection:
// all are answered, and /healthz meanwhile too.
TEST_F(AgentHttpAttack, AThousandConcurrentRequestsAreAllAnsweredAndHealthzStaysFast) {
  HealthProbe probe(port_), health_port_probe(health_port_);
  for (int wave = 0; wave < 5; ++wave) {
    std::vector<RawConnection> conns;
    for (int i = 0; i < 1000; ++i) conns.emplace_back(port_);
    for (auto& c : conns) ASSERT_TRUE(c.send(get_request("/metrics", false)));
    int ok = 0;
    for (auto& c : conns) {
      auto r = c.responses(1, 30s);
      if (!r.empty() && status_of(r[0]) == 200) ++ok;
    }
    EXPECT_EQ(ok, 1000) << "wave " << wave;
  }
  // The data port's own /healthz waits in the same loop as the thousand connections being
  // answered; it must answer, but the probes' figure is the health listener's.
  report("5 x 1000 concurrent requests (data port)", probe, kDataPortUnderFloodLimit);
  report("5 x 1000 concurrent requests (health port)", health_port_probe);
}

// Prometheus keeps its connection alive: every scrape after the first must not wait for a
// delayed ACK (cpp-httplib: ~40 ms each, headers and body in two writes without
// TCP_NODELAY).
TEST_F(AgentHttpAttack, KeptAliveScrapesDoNotStallOnDelayedAcks) {
  RawConnection c(port_);
  ASSERT_TRUE(c.ok());
  std::vector<std::chrono::microseconds> took;
  for (int i = 0; i < 40; ++i) {
    auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(c.send(get_request("/metrics")));
    auto r = c.responses(1, 5s);
    ASSERT_EQ(r.size(), 1u) << "scrape " << i;
    ASSERT_EQ(status_of(r[0]), 200);
    took.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start));
  }
  auto p50 = percentile(took, 50);
  std::printf("keep-alive /metrics: p50 %.2f ms, p99 %.2f ms\n", double(p50.count()) / 1000,
              double(percentile(took, 99).count()) / 1000);
  EXPECT_LT(p50, 20ms);
}

// Three requests in one write: three answers, in order, at once (cpp-httplib answered the
// first and then waited 5 s for bytes it had already read).
TEST_F(AgentHttpAttack, PipelinedRequestsAreAllAnsweredInOrder) {
  RawConnection c(port_);
  ASSERT_TRUE(c.send(get_request("/healthz") + get_request("/api/v1/targets") +
                     get_request("/nope")));
  auto r = c.responses(3, 2s);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(body_of(r[0]), "ok\n");
  EXPECT_EQ(status_of(r[1]), 200);
  EXPECT_NE(body_of(r[1]).find("\"targets\""), std::string::npos) << r[1];
  EXPECT_EQ(status_of(r[2]), 404);
}

// A request head larger than any real client sends is refused, not buffered without end.
TEST_F(AgentHttpAttack, AnEndlessHeaderIsRefusedAndTheConnectionClosed) {
  RawConnection c(port_);
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nX-Big: "));
  std::string chunk(64 * 1024, 'a');
  for (int i = 0; i < 16 && c.send(chunk); ++i) {
  }
  std::string answer = c.until_close(10s);
  EXPECT_EQ(status_of(answer), 431) << answer.substr(0, 200);
  EXPECT_LT(agent_->rss_bytes(), kRssBudget);
}

// A second agent on the port of a running one fails at start with one sentence; with
// SO_REUSEPORT both listened and the kernel split the scrapes between them.
TEST_F(AgentHttpAttack, ASecondAgentOnTheSamePortRefusesToStart) {
  AgentProcess second({"--no-bpf", "--listen", "127.0.0.1:" + std::to_string(port_)}, false);
  EXPECT_FALSE(second.wait_listening()) << second.log();
  EXPECT_EQ(second.wait_exit(), 1);  // README.md "Exit status": cannot listen
  EXPECT_NE(second.log().find("127.0.0.1:" + std::to_string(port_) +
                              ": the address is in use (is another goscry agent running?)"),
            std::string::npos)
      << second.log();
}

// The agent's peak RSS (VmHWM) in bytes.
std::size_t peak_rss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

std::string quiescent_fixture() {
  for (const auto& f : all_fixtures("quiescent"))
    if (f.variant == "plain") return f.path;
  return "";
}

// The number of tracebacks in a debug=2 text.
std::size_t tracebacks_in(const std::string& text) {
  std::size_t n = 0;
  for (auto at = text.find("goroutine "); at != std::string::npos;
       at = text.find("\n\ngoroutine ", at + 1))
    ++n;
  return n;
}

// 32 clients ask at once for the tracebacks (debug=2, ~35 MB each) of a target with 100,000
// goroutines. Before, each was built in memory at once: 10 such requests on 200k goroutines
// took the agent from 171 MB to 842 MB, 32 to 1.73 GB with 15 never answered. Now they are
// admitted by a budget: every request is answered, at once with 503 and Retry-After when
// over it, and the agent's peak RSS stays bounded. The admitted ones are streamed: chunks
// of about 64 KiB, never the whole text (before, one Content-Length answer of 35 MB).
TEST(AgentHttpBudget, ThirtyTwoConcurrentTracebacksOfAHugeTargetStayWithinTheBudget) {
  const std::string path = quiescent_fixture();
  ASSERT_FALSE(path.empty()) << "no quiescent fixture built";
  auto target = LiveProcess::start({path, "-n", "100000"}, "ready", 120s);
  ASSERT_TRUE(target) << target.error().message;
  const std::string pid = std::to_string((*target)->pid());
  AgentProcess agent({"--no-bpf", "--pid", pid});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  const std::string route = "/debug/pprof/goroutine?pid=" + pid + "&debug=2";
  ASSERT_TRUE(poll_until([&] {
    return http_get(agent.url("/api/v1/targets")).body.find("\"pid\":" + pid) !=
           std::string::npos;
  })) << agent.log();
  const std::size_t before = agent.rss_bytes();

  std::vector<RawConnection> clients;
  for (int i = 0; i < 32; ++i) {
    clients.emplace_back(agent.port());
    ASSERT_TRUE(clients.back().send(get_request(route)));
  }
  int ok = 0, busy = 0, other = 0;
  std::size_t goroutines = 0;
  for (auto& c : clients) {
    auto r = c.responses(1, 120s);
    if (r.empty()) {
      ++other;
      continue;
    }
    const int s = status_of(r[0]);
    if (s == 200) {
      ++ok;
      goroutines = std::max(goroutines, tracebacks_in(body_of(r[0])));
      const auto chunks = chunk_sizes(r[0]);
      EXPECT_GE(chunks.size(), 100u) << "streamed in pieces";
      for (auto size : chunks) EXPECT_LE(size, 1u << 20);
    } else if (s == 503 && r[0].find("\r\nRetry-After: ") != std::string::npos) {
      ++busy;
    } else {
      ++other;
    }
  }
  const std::size_t peak = peak_rss(agent.pid());
  std::printf("32 x debug=2 of 100k goroutines: %d answered 200, %d 503 (Retry-After), %d other; "
              "agent RSS %.0f MiB before, peak %.0f MiB\n",
              ok, busy, other, double(before) / (1 << 20), double(peak) / (1 << 20));
  EXPECT_EQ(other, 0);
  EXPECT_GE(ok, 1);
  EXPECT_EQ(ok + busy, 32);
  EXPECT_GE(goroutines, 100000u);
  EXPECT_LT(peak, before + (640u << 20));

  // Gzipped when asked (Prometheus-style clients do), still in pieces: curl undoes both.
  const auto headers = std::filesystem::temp_directory_path() /
                       ("goscry-gz-headers-" + std::to_string(getpid()));
  auto gz = http_get(agent.url(route), {"--compressed", "-D", headers.string()});
  std::ifstream hin(headers);
  const std::string head((std::istreambuf_iterator<char>(hin)), {});
  std::filesystem::remove(headers);
  EXPECT_EQ(gz.status, 200) << gz.error;
  EXPECT_NE(head.find("Content-Encoding: gzip"), std::string::npos) << head;
  EXPECT_NE(head.find("Transfer-Encoding: chunked"), std::string::npos) << head;
  EXPECT_GE(tracebacks_in(gz.body), 100000u);

  // Two clients take both slots and vanish mid-answer (35 MB cannot have fit in the socket
  // buffers when the first bytes arrive): the streams stop and free their slots, so two new
  // requests at once are both answered.
  for (int i = 0; i < 2; ++i) {
    RawConnection gone(agent.port());
    ASSERT_TRUE(gone.send(get_request(route)));
    pollfd p{gone.fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 60'000), 1) << "no answer began within 60 s";
    gone.reset_on_close();
  }
  EXPECT_TRUE(poll_until([&] {
    RawConnection a(agent.port()), b(agent.port());
    if (!a.send(get_request(route)) || !b.send(get_request(route))) return false;
    auto ra = a.responses(1, 60s), rb = b.responses(1, 60s);
    return !ra.empty() && !rb.empty() && status_of(ra[0]) == 200 && status_of(rb[0]) == 200;
  })) << "a slot stayed with a client that had gone";
}

}  // namespace
}  // namespace goscry::testing
