#include "tests/support/realworld_checks.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"
#include "tests/support/processes.h"
#include "tests/support/raw_http.h"
#include "tests/support/recording.h"

namespace goscry::testing {

using nlohmann::json;

BoundedLoad::BoundedLoad(SuiteServer& server, std::chrono::milliseconds pace)
    : thread_([this, &server, pace] { run(server, pace); }) {}

BoundedLoad::~BoundedLoad() { stop(); }

void BoundedLoad::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BoundedLoad::run(SuiteServer& server, std::chrono::milliseconds pace) {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const auto next = std::chrono::steady_clock::now() + pace;
    (server.load_step() ? steps_ : failed_)++;
    lock.lock();
    // The pace of the load, not a wait for something: stop() cuts it short.
    wake_.wait_until(lock, next, [this] { return stopping_; });
  }
}

namespace {

std::string url_of(int port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

// The body of a GET, or empty (a test failure) when it did not answer 200.
std::string get_body(int port, const std::string& path) {
  auto r = http_get(url_of(port, path), {"--max-time", "30"});
  EXPECT_EQ(r.status, 200) << url_of(port, path) << ": " << r.error;
  return r.status == 200 ? r.body : "";
}

// The value of the sample `name` (the whole name and labels, as written before the value)
// in Prometheus text, or nullopt.
std::optional<double> sample_value(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(name + " ")) return std::stod(line.substr(name.size() + 1));
  return std::nullopt;
}

// The number after "# <field> = " in runtime/pprof's MemStats comment lines.
std::string memstats_field(const std::string& heap_debug1, const std::string& field) {
  const std::string key = "\n# " + field + " = ";
  auto at = heap_debug1.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  return heap_debug1.substr(at, heap_debug1.find('\n', at) - at);
}

}  // namespace

OwnGc own_gc(const SuiteServer& server) {
  OwnGc out;
  const std::string heap = get_body(server.pprof_port(), "/debug/pprof/heap?debug=1");
  const std::string num_gc = memstats_field(heap, "NumGC"),
                    pauses = memstats_field(heap, "PauseNs");
  EXPECT_FALSE(num_gc.empty() || pauses.empty()) << server.name() << ": no MemStats in\n" << heap;
  if (!num_gc.empty()) out.num_gc = std::stoull(num_gc);
  std::istringstream ring(pauses.empty() ? "" : pauses.substr(1, pauses.size() - 2));
  for (std::uint64_t ns; ring >> ns;) out.pause_ns.push_back(ns);
  if (auto port = server.metrics_port()) {
    const std::string metrics = get_body(*port, "/metrics");
    if (auto count = sample_value(metrics, "go_gc_duration_seconds_count"))
      out.metrics_count = std::uint64_t(*count);
    out.metrics_sum = sample_value(metrics, "go_gc_duration_seconds_sum");
    EXPECT_TRUE(out.metrics_count && out.metrics_sum) << server.name() << ": " << metrics;
  }
  return out;
}

namespace {

// The stop-the-world time of one `goscry gc` cycle, as the runtime adds it up in
// work.pauseNS: sweep termination, every mark restart, mark termination.
std::uint64_t cycle_pause_ns(const json& cycle) {
  std::uint64_t ns = cycle["mark_termination_ns"].get<std::uint64_t>();
  if (cycle["whole"].get<bool>()) ns += cycle["sweep_termination_ns"].get<std::uint64_t>();
  for (const auto& r : cycle["mark_restarts_ns"]) ns += r.get<std::uint64_t>();
  return ns;
}

// `goscry gc --format json` on a server, its lines read as they come (a loaded server runs
// hundreds of cycles in a few seconds: more than a pipe holds).
class GcWatch {
 public:
  explicit GcWatch(pid_t pid)
      : gc_({goscry_binary(), "gc", "--pid", std::to_string(pid), "--format", "json"}) {}
  ~GcWatch() {
    if (!reader_.joinable()) return;
    gc_.signal(SIGKILL);  // a test that failed before the end: its pipe closes
    reader_.join();
  }
  ::testing::AssertionResult attach() {
    auto a = attached(gc_);
    if (a)
      reader_ = std::thread([this] {
        while (auto line = gc_.read_line(120000)) lines_.push_back(*line);
      });
    return a;
  }
  // Stops it with SIGINT; its cycles by the runtime's number, and its summary.
  std::map<std::uint64_t, json> cycles_until_end(json* summary) {
    gc_.signal(SIGINT);
    if (reader_.joinable()) reader_.join();
    std::map<std::uint64_t, json> cycles;
    for (const auto& line : lines_) {
      json j = json::parse(line, nullptr, false);
      EXPECT_TRUE(j.is_object()) << line;
      if (!j.is_object()) continue;
      if (j["report"] == "gc_cycle") {
        EXPECT_TRUE(j["cycle"].is_number()) << "a cycle without the runtime's number: " << line;
        if (j["cycle"].is_number()) cycles[j["cycle"].get<std::uint64_t>()] = j;
      }
      if (j["report"] == "gc_summary") *summary = j;
    }
    EXPECT_EQ(gc_.wait(), 0) << gc_.rest_of_stderr();
    return cycles;
  }

 private:
  ChildProcess gc_;
  std::vector<std::string> lines_;
  std::thread reader_;
};

// Every cycle the server completed between `before` and `after` is one goscry reported,
// with the runtime's own number and the runtime's own pause: MemStats.PauseNs is the
// cycle's work.pauseNS, the sum of its pauses measured as goscry measures them
// (docs/go-runtime.md), so the two agree to the nanosecond; and the sum of those
// pauses is the growth of its go_gc_duration_seconds_sum over the cycles its _count grew
// by. The summary's quantiles are left alone: they are taken over the process's last 256
// cycles (client_golang's ReadGCStats, VictoriaMetrics' MemStats.PauseNs), not the window.
void expect_cycles_match(const std::string& name, const std::map<std::uint64_t, json>& cycles,
                         const OwnGc& before, const OwnGc& after) {
  ASSERT_EQ(after.pause_ns.size(), 256u) << name;
  std::size_t compared = 0, pauses_compared = 0;
  for (std::uint64_t n = before.num_gc + 1; n <= after.num_gc; ++n) {
    auto c = cycles.find(n);
    ++compared;
    if (c == cycles.end()) {
      ADD_FAILURE() << name << ": goscry gc did not report its cycle " << n;
      continue;
    }
    if (!c->second["whole"].get<bool>() || after.num_gc - n >= 256) continue;
    ++pauses_compared;
    EXPECT_EQ(cycle_pause_ns(c->second), after.pause_ns[(n - 1) % 256])
        << name << ": cycle " << n << "'s pause\n"
        << c->second.dump();
  }
  EXPECT_GE(compared, 2u) << name << ": the load ran too few GC cycles to compare";
  std::printf(
      "%s: GC cycles %llu..%llu: %zu compared with its NumGC, %zu pauses with its PauseNs\n",
      name.c_str(), static_cast<unsigned long long>(before.num_gc + 1),
      static_cast<unsigned long long>(after.num_gc), compared, pauses_compared);
  if (!before.metrics_count || !after.metrics_count) return;
  std::uint64_t ns = 0, in_metrics = 0;
  bool whole = true;
  for (std::uint64_t n = *before.metrics_count + 1; n <= *after.metrics_count; ++n, ++in_metrics) {
    auto c = cycles.find(n);
    ASSERT_NE(c, cycles.end()) << name << ": go_gc_duration_seconds_count counted cycle " << n;
    whole = whole && c->second["whole"].get<bool>();
    ns += cycle_pause_ns(c->second);
  }
  const double theirs = *after.metrics_sum - *before.metrics_sum;
  // Its sum is printed in 6 significant digits by VictoriaMetrics (%g), in full by
  // client_golang: each read rounds it by at most 5e-6 of itself.
  const double rounding = 1e-5 * *after.metrics_sum + 1e-9;
  if (whole) {
    EXPECT_NEAR(double(ns) / 1e9, theirs, rounding)
        << name << ": go_gc_duration_seconds_sum over " << in_metrics << " cycles";
  }
  std::printf("%s: go_gc_duration_seconds: %llu cycles, sum %.9f s; goscry %.9f s\n", name.c_str(),
              static_cast<unsigned long long>(in_metrics), theirs, double(ns) / 1e9);
}

// Both CPU profiles of the window, flat: Go's own charges a SIGPROF that waited behind a
// preemption signal to runtime.asyncPreempt, with the function that ran as its caller
// (docs/verbs/record.md): -hide gives the sample back to that caller, in both profiles.
// Go's own never samples sysmon's thread (it has no per-thread timer, docs/verbs/record.md
// "What runtime/pprof does not see"): -ignore drops sysmon's samples from both.
void expect_profiles_match(const std::string& name, const std::string& own,
                           const std::string& ours) {
  const std::vector<std::string> options = {"-hide=^runtime\\.asyncPreempt$",
                                            "-ignore=^runtime\\.sysmon$"};
  long n_theirs = 0, n_mine = 0;
  auto theirs = flat_shares(own, &n_theirs, options), mine = flat_shares(ours, &n_mine, options);
  auto cmp = compare_flat_shares(theirs, n_theirs, mine, n_mine);
  std::printf(
      "%s: CPU profile: its own %ld samples, goscry %ld; %zu functions above 2 %%, "
      "max share difference %.1f points\n%s",
      name.c_str(), n_theirs, n_mine, cmp.compared, cmp.max_difference, cmp.table.c_str());
  ASSERT_GT(n_theirs, 50) << name << ": the server got almost no CPU";
  EXPECT_EQ(cmp.disagreements, "") << name << "\n" << cmp.table;
}

}  // namespace

void expect_agrees_under_load(SuiteServer& server, std::chrono::seconds window,
                              std::chrono::milliseconds pace) {
  GcWatch gc(server.pid());
  ASSERT_TRUE(gc.attach());
  const OwnGc before = own_gc(server);
  const std::string own = temp_path(server.name() + "-own.pb.gz"),
                    ours = temp_path(server.name() + "-goscry.pb.gz");
  BoundedLoad load(server, pace);
  const std::string seconds = std::to_string(window.count());
  CommandResult own_profile;
  std::thread profiler([&] {
    own_profile =
        run_command({"curl", "-sf", "--max-time", std::to_string(window.count() + 60), "-o", own,
                     url_of(server.pprof_port(), "/debug/pprof/profile?seconds=" + seconds)});
  });
  const Recorded rec = record(server.pid(), {"-d", seconds + "s", "-o", ours}, 199);
  profiler.join();
  const OwnGc after = own_gc(server);
  load.stop();
  json summary;
  const auto cycles = gc.cycles_until_end(&summary);
  std::printf("%s: load: %ld steps, %ld failed\n", server.name().c_str(), load.steps(),
              load.failed());
  EXPECT_GT(load.steps(), 0) << server.name() << ": the load never got an answer";
  ASSERT_TRUE(summary.is_object()) << server.name() << ": goscry gc wrote no summary";
  EXPECT_EQ(summary.value("lost", -1), 0) << summary.dump();
  expect_cycles_match(server.name(), cycles, before, after);
  ASSERT_EQ(rec.exit_code, 0) << rec.output;
  std::printf("%s: CPU while goscry sampled: %.2f s (schedstat %.2f s)\n", server.name().c_str(),
              rec.target_cpu, rec.target_run);
  ASSERT_EQ(own_profile.exit_code, 0)
      << server.name() << ": its /debug/pprof/profile: " << own_profile.err;
  expect_profiles_match(server.name(), own, ours);
}

namespace {

// goscry_goroutines{pid="P",...} in the agent's /metrics, or nullopt.
std::optional<std::int64_t> agent_goroutines(const std::string& metrics, const std::string& pid) {
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("goscry_goroutines{") &&
        line.find("pid=\"" + pid + "\"") != std::string::npos)
      return std::stoll(line.substr(line.rfind(' ') + 1));
  return std::nullopt;
}

struct Counts {
  std::int64_t own = -1, own_after = -2;      // its debug=2 less the goroutines serving it
  std::optional<std::int64_t> go_goroutines;  // its /metrics less those serving it
  std::optional<std::int64_t> go_after;
  std::optional<std::int64_t> agent;
  bool held_still() const { return own == own_after && go_goroutines == go_after; }
  bool agree() const {
    return held_still() && agent == own && (!go_goroutines || go_goroutines == own);
  }
};

// go_goroutines less the goroutines serving the request that counted it, over `c`.
std::optional<std::int64_t> own_go_goroutines(RawConnection& c, int serving) {
  if (!c.send(get_request("/metrics"))) return std::nullopt;
  auto r = c.responses(1, std::chrono::seconds(10));
  if (r.empty()) return std::nullopt;
  auto v = sample_value(body_of(r[0]), "go_goroutines");
  return v ? std::optional(std::int64_t(*v) - serving) : std::nullopt;
}

}  // namespace

void expect_agent_agrees(SuiteServer& server) {
  const std::string pid = std::to_string(server.pid());
  AgentProcess agent({"--pid", pid});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  std::string metrics;
  ASSERT_TRUE(poll_until([&] {
    metrics = http_get(agent.url("/metrics"), {}).body;
    return agent_goroutines(metrics, pid).has_value();
  })) << server.name()
      << ": no goscry_goroutines for it\n"
      << agent.log();
  auto check = run_command({"promtool", "check", "metrics"}, metrics);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << metrics;
  // Its own counts through connections kept open (their goroutines are there in every
  // count, goscry's too), compared at a moment when they read the same before and after
  // the agent's, for up to 30 s: the agent's figure follows the probes' counters, which it
  // reads every scan_interval (2 s by default, docs/agent.md), so right after a burst of
  // goroutines it may still be catching up (measured on VictoriaMetrics after its load:
  // 2-4 s behind). Its go_goroutines is compared where the number of
  // goroutines serving it is fixed (SuiteServer::goroutines_serving_metrics).
  RawConnection debug(server.pprof_port());
  std::optional<RawConnection> own_metrics;
  const auto serving = server.goroutines_serving_metrics();
  if (serving) own_metrics.emplace(*server.metrics_port());
  const std::string path = "/debug/pprof/goroutine?debug=2";
  Counts n;
  std::string trace;  // every try's counts, for a failure's message
  int tries = 0;
  poll_until(
      [&] {
        ++tries;
        if (own_metrics) n.go_goroutines = own_go_goroutines(*own_metrics, *serving);
        const std::string before = debug2_over(debug, path);
        n.agent = agent_goroutines(http_get(agent.url("/metrics"), {}).body, pid);
        const std::string after = debug2_over(debug, path);
        if (own_metrics) n.go_after = own_go_goroutines(*own_metrics, *serving);
        n.own = before.empty() ? -1 : own_live_count(before);
        n.own_after = after.empty() ? -2 : own_live_count(after);
        trace += " [own " + std::to_string(n.own) + "/" + std::to_string(n.own_after) + ", agent " +
                 std::to_string(n.agent.value_or(-1)) + ", go_goroutines " +
                 std::to_string(n.go_goroutines.value_or(-1)) + "/" +
                 std::to_string(n.go_after.value_or(-1)) + "]";
        return n.agree();
      },
      std::chrono::seconds(30));
  EXPECT_TRUE(n.held_still()) << server.name() << ": its own count never held still:" << trace;
  EXPECT_EQ(n.agent, n.own) << server.name() << ": goscry_goroutines against its debug=2:" << trace;
  if (serving) {
    EXPECT_EQ(n.agent, n.go_goroutines)
        << server.name() << ": goscry_goroutines against its go_goroutines less " << *serving;
  }
  std::printf("%s: agent goscry_goroutines %lld, its own count %lld%s (%d tries)\n",
              server.name().c_str(), static_cast<long long>(n.agent.value_or(-1)),
              static_cast<long long>(n.own),
              serving ? (", its go_goroutines less " + std::to_string(*serving) + " " +
                         std::to_string(n.go_goroutines.value_or(-1)))
                            .c_str()
                      : "",
              tries);
}

void expect_no_leaks_under_load(const std::vector<SuiteServer*>& servers,
                                std::chrono::seconds watch, std::chrono::milliseconds pace) {
  std::vector<std::unique_ptr<BoundedLoad>> loads;
  std::vector<std::unique_ptr<ChildProcess>> leaks;
  for (auto* s : servers) {
    loads.push_back(std::make_unique<BoundedLoad>(*s, pace));
    leaks.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{goscry_binary(), "leaks", "--pid", std::to_string(s->pid()), "-d",
                                 std::to_string(watch.count()) + "s", "--format", "json"}));
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const std::string name = servers[i]->name();
    // Silent for the whole watch, then the report: read with a bound past the watch.
    std::string out;
    const int bound_ms = int(watch.count() + 120) * 1000;
    while (auto line = leaks[i]->read_line(bound_ms)) out += *line + "\n";
    const int status = leaks[i]->wait();
    loads[i]->stop();
    json report = json::parse(out, nullptr, false);
    ASSERT_TRUE(report.is_object()) << name << ": " << out << leaks[i]->rest_of_stderr();
    EXPECT_EQ(status, 0) << name << ": " << out;
    EXPECT_TRUE(report["suspects"].is_array() && report["suspects"].empty())
        << name << ": " << report.dump(2);
    EXPECT_GE(report.value("watched_seconds", 0.0), double(watch.count()) * 0.9) << out;
    EXPECT_GT(loads[i]->steps(), 0) << name << ": the load never got an answer";
    std::printf("%s: leaks over %.0f s under %ld load steps (%ld failed): %zu suspects, bpf %s\n",
                name.c_str(), report.value("watched_seconds", 0.0), loads[i]->steps(),
                loads[i]->failed(), report["suspects"].size(),
                report.value("bpf", std::string("?")).c_str());
  }
}

}  // namespace goscry::testing
