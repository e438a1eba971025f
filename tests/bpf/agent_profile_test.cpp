// `goscry agent`'s continuous CPU profiling on the cpuburn and profiled fixtures, against
// independent oracles: `go tool pprof` as the reader of every profile (the one served at
// /debug/pprof/profile and the ones pushed to a Pyroscope-compatible ingest), the
// fixture's known hot functions and call paths, the pprof label sets the program sets
// itself, and the CPU time the kernel charged the target (/proc/PID/stat) while the agent
// collected.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "agent/probes/bpf_loader.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/processes.h"
#include "tests/support/raw_http.h"
#include "tests/support/recording.h"

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;

std::string cpuburn_fixture() {
  for (const auto& f : all_fixtures("cpuburn"))
    if (f.variant == "plain") return f.path;
  return "";
}

// The run time of every thread of a process, in seconds (/proc/PID/task/*/schedstat, in
// nanoseconds: utime+stime only count clock ticks).
double cpu_seconds(pid_t pid) {
  double sum = 0;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(e.path() / "schedstat");
    double ns = 0;
    if (f >> ns) sum += ns / 1e9;
  }
  return sum;
}

std::string temp_file(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() /
              ("goscry-agentprof-" + std::to_string(getpid()) + "-" + name);
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

struct Top {
  std::vector<std::pair<std::string, long>> flat;  // by flat samples, highest first
  long total = 0;
  std::string text;  // what pprof printed
};

// `go tool pprof -top` of a profile: the flat samples per function, highest first.
Top pprof_top(const std::string& profile_bytes, const std::string& name) {
  const std::string path = temp_file(name, profile_bytes);
  Top top;
  for (const auto& [fn, n] : flat_samples(path, &top.text)) {
    top.flat.push_back({fn, n});
    top.total += n;
  }
  std::filesystem::remove(path);
  std::stable_sort(top.flat.begin(), top.flat.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  return top;
}

long flat_of(const Top& top, const std::string& fn) {
  for (const auto& [name, n] : top.flat)
    if (name == fn) return n;
  return 0;
}

bool tracks(const AgentProcess& agent, pid_t pid) {
  auto j = nlohmann::json::parse(http_get(agent.url("/api/v1/targets")).body, nullptr, false);
  if (!j.is_object()) return false;
  for (const auto& t : j["targets"])
    if (t["pid"].get<pid_t>() == pid) return true;
  return false;
}

class AgentProfile : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = cpuburn_fixture();
    ASSERT_FALSE(path.empty()) << "no cpuburn fixture built";
    auto t = LiveProcess::start({path});
    ASSERT_TRUE(t) << t.error().message;
    target_ = std::move(*t);
  }
  std::string pid() const { return std::to_string(target_->pid()); }
  std::unique_ptr<LiveProcess> target_;
};

TEST_F(AgentProfile, ServesTheTargetsProfileOfTheNextSecondsLikeGo) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  AgentProcess agent({"--pid", pid()});  // the agent's default rate: 19 Hz
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] { return tracks(agent, target_->pid()); })) << agent.log();

  const double before = cpu_seconds(target_->pid());
  auto reply = http_get(agent.url("/debug/pprof/profile?pid=" + pid() + "&seconds=2"));
  const double cpu = cpu_seconds(target_->pid()) - before;
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error << agent.log();
  EXPECT_EQ(reply.content_type, "application/octet-stream");
  ASSERT_GE(reply.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(reply.body[0]), 0x1f) << "not gzip";

  Top top = pprof_top(reply.body, "served.pb.gz");
  ASSERT_FALSE(top.flat.empty()) << top.text;
  // The fixture spends (almost) all its CPU in burnTwice, burnOnce and spin (inlined into
  // burnInlined), twice as much in burnTwice as in each of the others.
  const std::set<std::string> hot = {"main.burnTwice", "main.burnOnce", "main.spin"};
  EXPECT_TRUE(hot.contains(top.flat[0].first)) << top.text;
  bool twice_in_top3 = false;
  for (std::size_t i = 0; i < std::min<std::size_t>(3, top.flat.size()); ++i)
    twice_in_top3 |= top.flat[i].first == "main.burnTwice";
  EXPECT_TRUE(twice_in_top3) << top.text;
  long in_hot = 0;
  for (const auto& fn : hot) in_hot += flat_of(top, fn);
  EXPECT_GE(in_hot, 0.8 * top.total) << top.text;
  // 19 Hz x the CPU time the target used while the request ran. Each CPU's clock ticks 19
  // times a second and a tick is the target's when the target runs then: on a machine
  // shared with other work the count is binomial, within 3 sigma (<= 3 sqrt(expected)) of
  // the mean. The window measured here holds the agent's (it also covers curl's start and
  // the answer), so the profile may fall short by the request's latency too.
  const double expected = 19 * cpu, sigma3 = 3 * std::sqrt(expected);
  std::printf("served: %ld samples (burnTwice %ld), expected %.1f (19 Hz x %.2f s CPU)\n",
              top.total, flat_of(top, "main.burnTwice"), expected, cpu);
  EXPECT_LE(static_cast<double>(top.total), expected + sigma3 + 2) << top.text;
  EXPECT_GE(static_cast<double>(top.total), 0.8 * expected - sigma3 - 2) << top.text;

  std::string metrics = http_get(agent.url("/metrics")).body;
  auto at = metrics.find("\ngoscry_cpu_samples_total ");
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stod(metrics.substr(at + 26)), static_cast<double>(top.total));
}

// The value of the unlabelled series `name` in a /metrics body; -1 when absent.
double metric_value(const std::string& body, const std::string& name) {
  auto at = body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(body.substr(at + name.size() + 2));
}

// Two targets running one binary: the symbolizer indexes it once for both. Each target's
// profile looks the binary up at least once, so after both there is one cached binary,
// at least one miss (two only if both first lookups raced) and at least one hit.
TEST(AgentProfileCache, TwoTargetsOfOneBinaryShareOneIndexedBinary) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  const std::string path = cpuburn_fixture();
  ASSERT_FALSE(path.empty()) << "no cpuburn fixture built";
  auto a = LiveProcess::start({path, "idle"});
  auto b = LiveProcess::start({path, "idle"});
  ASSERT_TRUE(a && b);
  const std::string pa = std::to_string((*a)->pid()), pb = std::to_string((*b)->pid());
  AgentProcess agent({"--pid", pa, "--pid", pb, "--no-leaks"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] { return tracks(agent, (*a)->pid()) && tracks(agent, (*b)->pid()); }))
      << agent.log();
  for (const auto& pid : {pa, pb})
    ASSERT_EQ(http_get(agent.url("/debug/pprof/profile?pid=" + pid + "&seconds=1")).status, 200);
  const std::string body = http_get(agent.url("/metrics")).body;
  EXPECT_EQ(metric_value(body, "goscry_symbolizer_cache_binaries"), 1) << body;
  const double misses = metric_value(body, "goscry_symbolizer_cache_misses_total");
  EXPECT_GE(misses, 1);
  EXPECT_LE(misses, 2);
  EXPECT_GE(metric_value(body, "goscry_symbolizer_cache_hits_total"), 1) << body;
  EXPECT_EQ(metric_value(body, "goscry_symbolizer_cache_errors_total"), 0) << body;
  // The CPU sampler's per-target map holds the two targets.
  EXPECT_TRUE(poll_until([&] {
    return http_get(agent.url("/metrics"))
               .body.find("\ngoscry_bpf_map_entries{object=\"cpu\",map=\"cpu_targets\"} 2\n") !=
           std::string::npos;
  }, 15s)) << http_get(agent.url("/metrics")).body;
}

TEST_F(AgentProfile, RefusesUnknownPidsAndBadSecondsAndStopsPromptly) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  AgentProcess agent({"--pid", pid()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] { return tracks(agent, target_->pid()); })) << agent.log();

  // A pid no agent tracks: our own (the test binary is not a Go program).
  EXPECT_EQ(
      http_get(agent.url("/debug/pprof/profile?pid=" + std::to_string(getpid()) + "&seconds=1"))
          .status,
      404);
  EXPECT_EQ(http_get(agent.url("/debug/pprof/profile?seconds=1")).status, 400);
  for (const char* bad : {"0", "-1", "abc", "1.5", "301"})
    EXPECT_EQ(http_get(agent.url("/debug/pprof/profile?pid=" + pid() + "&seconds=" + bad)).status,
              400)
        << bad;

  // A 60 s request in flight does not hold up SIGTERM.
  std::thread slow(
      [&] { http_get(agent.url("/debug/pprof/profile?pid=" + pid() + "&seconds=60")); });
  ASSERT_TRUE(poll_until([&] { return agent.log().find("target added") != std::string::npos; }));
  std::this_thread::sleep_for(300ms);  // let the request reach the agent (nothing to poll for)
  const auto sent = std::chrono::steady_clock::now();
  agent.signal(SIGTERM);
  auto status = agent.wait_exit(10s);
  slow.join();
  ASSERT_TRUE(status) << agent.log();
  EXPECT_EQ(*status, 0) << agent.log();
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 5s);
}

// Four clients ask for 300 s profiles and hang up: their slots are free again within a
// second, as with Go's net/http/pprof (before, every profile request was a 429 for five
// minutes).
TEST_F(AgentProfile, AbandonedProfileRequestsFreeTheirSlots) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  AgentProcess agent({"--pid", pid()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] { return tracks(agent, target_->pid()); })) << agent.log();
  const std::string url = "/debug/pprof/profile?pid=" + pid();
  {
    std::vector<std::optional<RawConnection>> abandoned(4);
    auto ask = [&](std::optional<RawConnection>& c) {
      c.emplace(agent.port());
      return c->send(get_request(url + "&seconds=300"));
    };
    for (auto& c : abandoned) ASSERT_TRUE(ask(c));
    // All four are collecting once a fifth is refused. A poll can take a slot before one of
    // the four does, which is then refused (429) at once: that one asks again, and polls
    // wait until the last ask is half a second old, so that on a loaded machine it reaches
    // the agent before the next poll does (else the two can trade places every round).
    auto last_ask = std::chrono::steady_clock::now();
    ASSERT_TRUE(poll_until([&] {
      for (auto& c : abandoned) {
        if (c->responses(1, 1ms).empty()) continue;
        if (!ask(c)) return false;
        last_ask = std::chrono::steady_clock::now();
      }
      return std::chrono::steady_clock::now() - last_ask > 500ms &&
             http_get(agent.url(url + "&seconds=1")).status == 429;
    }, 30s)) << agent.log();
  }  // the four hang up
  HttpReply reply;
  EXPECT_TRUE(poll_until([&] {
    reply = http_get(agent.url(url + "&seconds=1"));
    return reply.status != 429;
  }, 5s)) << "the abandoned requests still hold their slots";
  EXPECT_EQ(reply.status, 200) << reply.body;
}

TEST_F(AgentProfile, SighupTurnsProfilingOnAtTheNewRate) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  const std::string config = temp_file("reload.yml", "targets: [" + pid() + "]\nprofile_hz: 0\n");
  AgentProcess agent({"--config", config});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  ASSERT_TRUE(poll_until([&] { return tracks(agent, target_->pid()); })) << agent.log();
  const std::string url = agent.url("/debug/pprof/profile?pid=" + pid() + "&seconds=1");
  EXPECT_EQ(http_get(url).status, 503);

  std::ofstream(config) << "targets: [" << pid() << "]\nprofile_hz: 49\n";
  agent.signal(SIGHUP);
  ASSERT_TRUE(poll_until([&] { return agent.log().find("hz=49") != std::string::npos; }))
      << agent.log();
  auto reply = http_get(url);
  std::filesystem::remove(config);
  ASSERT_EQ(reply.status, 200) << reply.body << agent.log();
  // The profile says its rate as Go's does: the period of one sample, 1e9/49 ns.
  const std::string path = temp_file("reload.pb.gz", reply.body);
  auto raw = run_command({go_command(), "tool", "pprof", "-raw", path});
  std::filesystem::remove(path);
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_NE(raw.out.find("Period: " + std::to_string(1'000'000'000 / 49) + "\n"), std::string::npos)
      << raw.out.substr(0, 300);
  EXPECT_GT(pprof_top(reply.body, "reload2.pb.gz").total, 0);
}

// An agent that only profiles, at `hz`, tracking `pids` (no BPF watch, no goroutine
// snapshots to slow the targets' start).
std::unique_ptr<AgentProcess> profiling_agent(const std::vector<pid_t>& pids, int hz) {
  std::vector<std::string> args = {"--no-bpf", "--no-leaks", "--profile-hz", std::to_string(hz)};
  for (pid_t p : pids) args.insert(args.end(), {"--pid", std::to_string(p)});
  auto agent = std::make_unique<AgentProcess>(args);
  EXPECT_TRUE(agent->wait_listening()) << agent->log();
  EXPECT_TRUE(poll_until([&] {
    return std::all_of(pids.begin(), pids.end(), [&](pid_t p) { return tracks(*agent, p); });
  })) << agent->log();
  return agent;
}

// The agent's 2 s profiles of every target at once: one /debug/pprof/profile request per
// pid in parallel (at most CpuProfiler::kMaxCollections), each written to a file (its path
// per pid).
std::map<pid_t, std::string> served_profiles(const AgentProcess& agent,
                                             const std::vector<pid_t>& pids) {
  std::map<pid_t, HttpReply> replies;
  std::mutex mu;
  std::vector<std::thread> requests;
  for (pid_t p : pids)
    requests.emplace_back([&, p] {
      auto r = http_get(agent.url("/debug/pprof/profile?pid=" + std::to_string(p) + "&seconds=2"));
      std::lock_guard lock(mu);
      replies[p] = std::move(r);
    });
  for (auto& t : requests) t.join();
  std::map<pid_t, std::string> out;
  for (pid_t p : pids) {
    EXPECT_EQ(replies[p].status, 200) << replies[p].body << replies[p].error << agent.log();
    if (replies[p].status == 200)
      out[p] = temp_file("oracle-" + std::to_string(p) + ".pb.gz", replies[p].body);
  }
  return out;
}

// Rounds of profiles are taken until each target has `enough` samples of what a test
// counts: on a loaded machine a 2 s window can hold a handful. At most a minute.
constexpr auto kEnoughSamplesWithin = 60s;

struct LabelTally {
  std::map<std::string, long> by_worker;
  long labelled = 0, all = 0;
};

// The agent's profiles carry the pprof labels the program set, as `goscry record`'s do
// (RecordOracles.SamplesCarryTheProgramsPprofLabelsAndGoroutineId), on every toolchain:
// the profiled fixture's one busy goroutine spends 2:1:1 of its time under three label
// sets it made itself (the eleven-label one spills over a Go map bucket on Go <= 1.23).
// Every labelled sample has exactly one of those sets, most samples are labelled (the
// goroutine burns a CPU), and the shares are the fixture's.
TEST(AgentProfileOracles, ServedProfilesCarryTheProgramsPprofLabels) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  std::vector<std::unique_ptr<LiveProcess>> targets;
  std::vector<pid_t> pids;
  std::map<pid_t, std::string> label_of;
  for (const auto& f : all_fixtures("profiled")) {
    if (f.variant != "plain") continue;
    auto t = LiveProcess::start({f.path, "labels"});
    ASSERT_TRUE(t) << t.error().message;
    pids.push_back((*t)->pid());
    label_of[(*t)->pid()] = f.label();
    targets.push_back(std::move(*t));
  }
  ASSERT_FALSE(pids.empty()) << "no profiled-plain fixture built";
  ASSERT_LE(pids.size(), 4u) << "more toolchains than concurrent profile requests";
  auto agent = profiling_agent(pids, 199);

  std::map<std::string, std::string> wide = {{"fixture", "profiled"}, {"worker", "wide"}};
  for (int i = 0; i < 10; ++i) wide["l" + std::to_string(i)] = "v" + std::to_string(i);
  const std::map<std::string, std::map<std::string, std::string>> want = {
      {"a", {{"fixture", "profiled"}, {"worker", "a"}}},
      {"b", {{"fixture", "profiled"}, {"worker", "b"}}},
      {"wide", wide}};
  std::map<pid_t, LabelTally> tally;
  auto enough = [&] {
    return std::all_of(pids.begin(), pids.end(), [&](pid_t p) { return tally[p].labelled >= 40; });
  };
  for (auto until = std::chrono::steady_clock::now() + kEnoughSamplesWithin;
       !enough() && std::chrono::steady_clock::now() < until;) {
    for (const auto& [pid, path] : served_profiles(*agent, pids)) {
      SCOPED_TRACE(label_of[pid]);
      std::string raw;
      LabelTally& t = tally[pid];
      for (auto s : raw_samples(path, &raw)) {
        t.all += s.count;
        if (s.labels.empty()) continue;
        auto w = want.find(s.labels["worker"]);
        ASSERT_NE(w, want.end()) << raw;
        EXPECT_EQ(s.labels, w->second) << raw;
        t.labelled += s.count;
        t.by_worker[w->first] += s.count;
      }
      std::filesystem::remove(path);
    }
    if (::testing::Test::HasFailure()) return;
  }
  for (pid_t pid : pids) {
    SCOPED_TRACE(label_of[pid]);
    const LabelTally& t = tally[pid];
    auto n_of = [&](const char* w) { return t.by_worker.contains(w) ? t.by_worker.at(w) : 0; };
    std::printf("%s: %ld samples, %ld labelled: a %ld, b %ld, wide %ld\n", label_of[pid].c_str(),
                t.all, t.labelled, n_of("a"), n_of("b"), n_of("wide"));
    ASSERT_GE(t.labelled, 40) << "the target got almost no CPU in a minute";
    EXPECT_GT(t.labelled, t.all / 2);
    // Shares 1/2, 1/4, 1/4, each within 3.5 binomial sigmas.
    const double n = static_cast<double>(t.labelled);
    auto within = [&](double p) { return 3.5 * std::sqrt(p * (1 - p) / n); };
    EXPECT_NEAR(n_of("a") / n, 0.50, within(0.50));
    EXPECT_NEAR(n_of("b") / n, 0.25, within(0.25));
    EXPECT_NEAR(n_of("wide") / n, 0.25, within(0.25));
  }
}

// Samples per stack of a profile, leaf first, from `go tool pprof -traces`: blocks between
// "-----+-----" lines, "   N   leaf" then one frame per line.
std::vector<std::pair<long, std::vector<std::string>>> traces_of(const std::string& path,
                                                                 std::string* text) {
  auto traces =
      run_command({go_command(), "tool", "pprof", "-traces", "-sample_index=samples", path});
  EXPECT_EQ(traces.exit_code, 0) << traces.err;
  *text = traces.out;
  std::vector<std::pair<long, std::vector<std::string>>> out;
  for (const auto& line : split_lines(traces.out)) {
    if (line.starts_with("-----")) {
      out.push_back({0, {}});
      continue;
    }
    std::istringstream in(line);
    std::string first, second;
    if (!(in >> first) || out.empty()) continue;
    auto& [count, frames] = out.back();
    if (frames.empty() && std::isdigit(static_cast<unsigned char>(first[0])) && (in >> second)) {
      count = std::stol(first);
      frames.push_back(second);
    } else if (!frames.empty()) {
      frames.push_back(first);
    }
  }
  return out;
}

// The agent's profiles put back the caller of a frameless leaf, as `goscry record`'s do
// (Record.WritesAWellFormedSvgAndFoldedStacks): cpuburn's main.burnTwice saves no frame
// pointer, so a frame-pointer walk from it skips main.burn, its caller in the source;
// nearly every sample with burnTwice as the leaf has main.burn under it (the rest: the
// leaf's first instructions).
TEST(AgentProfileOracles, ServedProfilesKeepTheFramelessLeafsCaller) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  auto target = LiveProcess::start({cpuburn_fixture()});
  ASSERT_TRUE(target) << target.error().message;
  const pid_t pid = (*target)->pid();
  auto agent = profiling_agent({pid}, 199);
  long leaf_twice = 0, with_burn = 0;
  std::string text;
  for (auto until = std::chrono::steady_clock::now() + kEnoughSamplesWithin;
       leaf_twice < 30 && std::chrono::steady_clock::now() < until;) {
    auto profiles = served_profiles(*agent, {pid});
    ASSERT_EQ(profiles.size(), 1u);
    for (const auto& [n, frames] : traces_of(profiles[pid], &text)) {
      if (frames.empty() || frames[0] != "main.burnTwice") continue;
      leaf_twice += n;
      if (frames.size() > 1 && frames[1] == "main.burn") with_burn += n;
    }
    std::filesystem::remove(profiles[pid]);
  }
  std::printf("burnTwice leaf: %ld samples, %ld with main.burn as caller\n", leaf_twice, with_burn);
  ASSERT_GE(leaf_twice, 30) << "the target got almost no CPU in a minute\n" << text;
  EXPECT_GE(with_burn, 0.9 * leaf_twice) << text;
}

// A stand-in for Pyroscope's ingest endpoint that keeps what it receives.
struct FakeIngest {
  struct Request {
    std::string path, content_type;
    std::map<std::string, std::string> params;
    bool has_profile = false;
    std::string profile, filename;
  };
  httplib::Server server;
  std::mutex mu;
  std::vector<Request> received;
  int port = 0;
  std::thread thread;

  FakeIngest() {
    server.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      Request r;
      r.path = req.path;
      r.content_type = req.get_header_value("Content-Type");
      for (const auto& [k, v] : req.params) r.params[k] = v;
      if (req.has_file("profile")) {
        auto f = req.get_file_value("profile");
        r.has_profile = true;
        r.profile = f.content;
        r.filename = f.filename;
      }
      std::lock_guard lock(mu);
      received.push_back(std::move(r));
      res.status = 200;
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
  }
  ~FakeIngest() {
    server.stop();
    thread.join();
  }
  std::vector<Request> requests() {
    std::lock_guard lock(mu);
    return received;
  }
};

TEST_F(AgentProfile, PushesEachPeriodsProfileToAPyroscopeIngest) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  FakeIngest ingest;
  ASSERT_GT(ingest.port, 0);
  const std::string config =
      temp_file("push.yml", "targets: [" + pid() + "]\nprofile_hz: 49\n" +
                                "pyroscope_url: http://127.0.0.1:" + std::to_string(ingest.port) +
                                "/pyro/\npyroscope_interval: 1s\npyroscope_labels: {env: test}\n");
  const auto started = std::chrono::system_clock::now();
  AgentProcess agent({"--config", config});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  // The first period may be short (it starts when the target is added): wait for two.
  ASSERT_TRUE(poll_until([&] { return ingest.requests().size() >= 2; }, 20s)) << agent.log();
  std::filesystem::remove(config);
  const auto now = std::chrono::system_clock::now();
  const auto unix_s = [](auto t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };

  const std::string app =
      std::filesystem::path(cpuburn_fixture()).filename().string();  // "cpuburn-plain"
  long burn_twice = 0;
  for (auto& r : ingest.requests()) {
    SCOPED_TRACE(r.path);
    EXPECT_EQ(r.path, "/pyro/ingest");
    EXPECT_TRUE(r.content_type.starts_with("multipart/form-data; boundary=")) << r.content_type;
    EXPECT_EQ(r.params["name"], app + "{pid=" + pid() + ",env=test}");
    EXPECT_EQ(r.params["spyName"], "goscry");
    EXPECT_EQ(r.params["sampleRate"], "49");
    EXPECT_EQ(r.params["units"], "samples");
    EXPECT_EQ(r.params["aggregationType"], "sum");
    EXPECT_FALSE(r.params.contains("format"))
        << "format=pprof makes Pyroscope read the form as a bare pprof";
    const long from = std::stol(r.params["from"]), until = std::stol(r.params["until"]);
    EXPECT_LE(unix_s(started) - 1, from);
    EXPECT_LE(from, until);
    EXPECT_LE(until, unix_s(now) + 1);
    ASSERT_TRUE(r.has_profile);
    EXPECT_EQ(r.filename, "profile.pprof");
    Top top = pprof_top(r.profile, "pushed.pb.gz");
    burn_twice += flat_of(top, "main.burnTwice");
    EXPECT_GT(top.total, 0) << top.text;
  }
  EXPECT_GT(burn_twice, 0);
  std::string metrics = http_get(agent.url("/metrics")).body;
  EXPECT_NE(metrics.find("goscry_profile_pushes_total{result=\"success\"}"), std::string::npos)
      << metrics;
}

}  // namespace
}  // namespace goscry::testing
