// goscry heap against the oracle of the target itself: the heapsites fixture allocates from
// known sites, holds still after two GCs and writes its own heap profile with runtime/pprof
// (what /debug/pprof/heap answers). goscry's profile, read from the fixture's memory at the
// same quiescent point, must be the same stack for stack and value for value, on every
// toolchain and variant. Both profiles are read with `go tool pprof -raw`, the reference
// reader, not with goscry's code.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/heap_records.h"
#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/pprof_raw.h"
#include "tests/support/processes.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::LiveProcess;
using testing::run_command;
using testing::split_lines;
using namespace std::chrono_literals;

using Values = std::vector<long long>;  // alloc_objects, alloc_space, inuse_objects, inuse_space
// A sample's stack, one "function file:line | caller file:line" per location (its inlined
// calls, innermost first), leaf first, and its "bytes" label.
using StackKey = std::pair<std::vector<std::string>, long long>;

struct RawProfile {
  long long period = 0;
  std::map<StackKey, Values> samples;  // summed per key; all-zero samples left out
  std::string text;
};

// The profile as `go tool pprof -raw` reads it, summed per stack and "bytes" label.
RawProfile raw_profile(const std::string& path) {
  testing::RawPprof raw = testing::read_raw_pprof(path);
  RawProfile p;
  p.period = raw.period;
  p.text = std::move(raw.text);
  for (const auto& s : raw.samples) {
    if (s.values == Values{0, 0, 0, 0}) continue;
    auto bytes = s.labels.find("bytes");
    StackKey key{s.stack, bytes == s.labels.end() ? 0 : std::stoll(bytes->second)};
    auto& v = p.samples[key];
    v.resize(4);
    for (std::size_t i = 0; i < 4 && i < s.values.size(); ++i) v[i] += s.values[i];
  }
  return p;
}

std::string describe(const std::map<StackKey, Values>& samples) {
  std::string out;
  for (const auto& [k, v] : samples) {
    out += std::to_string(v[0]) + " " + std::to_string(v[1]) + " " + std::to_string(v[2]) + " " +
           std::to_string(v[3]) + " bytes=" + std::to_string(k.second) + ":";
    for (const auto& l : k.first) out += "\n    " + l;
    out += "\n";
  }
  return out;
}

// The sum of a value over the samples whose stack holds `function`.
long long sum_with(const RawProfile& p, const std::string& function, int value) {
  long long sum = 0;
  for (const auto& [k, v] : p.samples)
    for (const auto& l : k.first)
      if (l.starts_with(function + " ") || l.find("| " + function + " ") != std::string::npos) {
        sum += v[value];
        break;
      }
  return sum;
}

std::string temp_file(const std::string& name) {
  return ::testing::TempDir() + "/" + std::to_string(getpid()) + "-" + name;
}

// The NumGC the fixture printed after `prefix`.
long numgc_after(LiveProcess& p, const std::string& prefix) {
  auto line = p.wait_for_prefix(prefix, 60s);
  EXPECT_TRUE(line) << (line ? "" : line.error().message);
  return line ? std::stol(line->substr(prefix.size())) : -1;
}

TEST(HeapProfile, EqualsTheTargetsOwnHeapProfileOnEveryToolchainAndVariant) {
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty()) << "no heapsites fixtures were built";
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    const std::string pid = std::to_string((*proc)->pid());
    const std::string ours = temp_file("goscry-heap.pb.gz");
    const std::string theirs = temp_file("own-heap.pb.gz");
    bool compared = false;
    // A GC between the two reads (the runtime's 2-minute one, say) publishes a new cycle:
    // then the round is taken again.
    for (int round = 0; round < 5 && !compared; ++round) {
      (*proc)->send("gc\n");
      const long before = numgc_after(**proc, "quiet ");
      auto r = run_command({testing::goscry_binary(), "heap", "--pid", pid, "-o", ours});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      (*proc)->send("heap " + theirs + "\n");
      const long after = numgc_after(**proc, "written ");
      if (before != after) continue;
      compared = true;
      RawProfile got = raw_profile(ours), want = raw_profile(theirs);
      EXPECT_EQ(got.period, want.period);
      EXPECT_EQ(got.period, 512 * 1024);
      EXPECT_EQ(got.samples, want.samples) << "goscry:\n"
                                           << describe(got.samples) << "the program's own:\n"
                                           << describe(want.samples);
      // The known sites are there, the inlined one as an inlined call.
      EXPECT_GT(sum_with(want, "main.liveSmall", 3), 0) << want.text;
      EXPECT_GT(sum_with(want, "main.liveLarge", 3), 0) << want.text;
      EXPECT_GT(sum_with(want, "main.fromGoroutine", 3), 0) << want.text;
      EXPECT_GT(sum_with(want, "main.deep", 1), 0) << want.text;
    }
    EXPECT_TRUE(compared) << "the fixture kept running GCs between the two reads";
  }
}

TEST(HeapProfile, TextAndJsonNameTheKnownSites) {
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.back().path});
  ASSERT_TRUE(proc) << proc.error().message;
  const std::string pid = std::to_string((*proc)->pid());
  auto text = run_command({testing::goscry_binary(), "heap", "--pid", pid, "--format", "text"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(text.out.starts_with("heap profile: ")) << text.out;
  EXPECT_TRUE(text.out.find(" @ heap/1048576\n") != std::string::npos) << text.out;
  EXPECT_NE(text.out.find("\tmain.liveSmall\t"), std::string::npos) << text.out;
  auto json = run_command({testing::goscry_binary(), "heap", "--pid", pid, "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("\"function\": \"main.liveSmall\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"mem_profile_rate\": 524288"), std::string::npos) << json.out;
}

TEST(HeapProfile, AllocsDeltaNamesTheSitesInTheirProportions) {
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    if (f.variant != "plain" && f.variant != "stripped") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path, "-churn", "-rate", "4096"});
    ASSERT_TRUE(proc) << proc.error().message;
    const std::string out = temp_file("allocs.pb.gz");
    auto r = run_command({testing::goscry_binary(), "heap", "--pid",
                          std::to_string((*proc)->pid()), "--seconds", "3", "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    RawProfile p = raw_profile(out);
    const long long one = sum_with(p, "main.churnOne", 1);
    const long long three = sum_with(p, "main.churnThree", 1);
    ASSERT_GT(one, 0) << p.text;
    const double ratio = double(three) / double(one);
    EXPECT_NEAR(ratio, 3.0, 0.3) << "churnOne " << one << " churnThree " << three;
    // Sites that allocated only before the window are not in the delta.
    EXPECT_EQ(sum_with(p, "main.liveSmall", 1), 0) << p.text;
    EXPECT_EQ(sum_with(p, "main.garbage", 1), 0) << p.text;
  }
}

// The published counts of every stack, summed: what MemProfile would return.
std::map<std::vector<std::uint64_t>, Values> counts(const HeapRecords& r) {
  std::map<std::vector<std::uint64_t>, Values> out;
  for (const auto& h : r.records) {
    if (h.alloc_objects == 0 && h.free_objects == 0) continue;  // a bucket of the next cycle
    auto& v = out[h.stack];
    v.resize(4);
    v[0] += h.alloc_objects, v[1] += h.alloc_bytes, v[2] += h.free_objects, v[3] += h.free_bytes;
  }
  return out;
}

long long alloc_objects(const HeapRecords& r) {
  long long n = 0;
  for (const auto& h : r.records) n += h.alloc_objects;
  return n;
}

// Between GCs a malloc goes to a future cycle of its record: the stamp (MemProfileRate,
// mProfCycle) stays and a read returns the same counts, which lets the agent skip the read
// (agent/daemon/heap_source.cpp); a GC moves the stamp and publishes the mallocs. With
// -rate 1 each of the fixture's 100 mallocs is sampled, so a count that took them in early
// shows.
TEST(HeapProfile, MallocsBetweenGcsLeaveTheStampAndTheCountsAndAGcMovesBoth) {
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path, "-rate", "1"});
    ASSERT_TRUE(proc) << proc.error().message;
    auto go = GoProcess::open((*proc)->pid());
    ASSERT_TRUE(go) << go.error().message;
    bool compared = false;
    // A GC of the runtime's own between "quiet" and "allocated" spoils the round.
    for (int round = 0; round < 5 && !compared; ++round) {
      (*proc)->send("gc\n");
      const long before = numgc_after(**proc, "quiet ");
      auto first = read_heap_records(**go);
      ASSERT_TRUE(first) << first.error().message;
      (*proc)->send("alloc\n");
      const long mid = numgc_after(**proc, "allocated ");
      auto stamp = read_heap_stamp(**go);
      ASSERT_TRUE(stamp) << stamp.error().message;
      auto second = read_heap_records(**go);
      ASSERT_TRUE(second) << second.error().message;
      if (mid != before) continue;
      compared = true;
      EXPECT_TRUE(first->settled);
      EXPECT_TRUE(first->consistent && second->consistent);
      EXPECT_EQ(first->stamp(), *stamp);
      EXPECT_EQ(second->stamp(), *stamp);
      EXPECT_EQ(counts(*first), counts(*second));
      (*proc)->send("gc\n");
      numgc_after(**proc, "quiet ");
      auto third = read_heap_records(**go);
      ASSERT_TRUE(third) << third.error().message;
      EXPECT_NE(third->stamp(), *stamp);
      EXPECT_GE(alloc_objects(*third) - alloc_objects(*first), 100);
    }
    EXPECT_TRUE(compared) << "the fixture kept running GCs of its own";
  }
}

// A target allocating as fast as it can, with GCs every few milliseconds publishing new
// cycles under the reads: every read either is a snapshot of one published cycle (no stack
// has freed more than it allocated) or says it is not.
TEST(HeapProfile, ReadsUnderConstantGcAreSnapshotsOrSaySo) {
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.back().path, "-churn", "-rate", "512"});
  ASSERT_TRUE(proc) << proc.error().message;
  const std::string pid = std::to_string((*proc)->pid());
  int consistent = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = run_command({testing::goscry_binary(), "heap", "--pid", pid, "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    if (!j["consistent"].get<bool>()) {
      EXPECT_NE(r.err.find("the last read is shown"), std::string::npos) << r.err;
      continue;
    }
    ++consistent;
    for (const auto& s : j["samples"]) {
      EXPECT_LE(s["sampled"]["free_objects"].get<long long>(),
                s["sampled"]["alloc_objects"].get<long long>())
          << s.dump();
      EXPECT_GE(s["inuse_bytes"].get<long long>(), 0) << s.dump();
    }
  }
  EXPECT_GT(consistent, 0);
}

TEST(HeapProfile, TargetWithoutMemoryProfilingIsOneSentenceAndFails) {
  // hello never calls runtime.MemProfile (nor imports runtime/pprof): its linker sets
  // disableMemoryProfiling and the runtime sets MemProfileRate to 0.
  for (const auto& f : all_fixtures("hello")) {
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(proc) << proc.error().message;
    auto r = run_command(
        {testing::goscry_binary(), "heap", "--pid", std::to_string((*proc)->pid())});
    EXPECT_EQ(r.exit_code, 6) << r.err;  // unsupported (README.md "Exit status")
    EXPECT_NE(r.err.find("runtime.MemProfileRate is 0"), std::string::npos) << r.err;
    EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
  }
}

// --enable-sampling on a program whose linker disabled memory profiling: Go 1.19-1.24 take
// the written rate at their next allocation (goscry writes it, reads it back and says so);
// from 1.25 the runtime would never sample again, and goscry writes nothing.
TEST(HeapProfile, EnableSamplingWritesTheRateWhereTheRuntimeWillUseIt) {
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(proc) << proc.error().message;
    auto r = run_command({testing::goscry_binary(), "heap", "--pid",
                          std::to_string((*proc)->pid()), "--enable-sampling=4096",
                          "--seconds", "1", "--format", "json"});
    const int minor = std::stoi(f.go_version.substr(4));  // "go1.NN..."
    if (minor >= 25) {
      EXPECT_EQ(r.exit_code, 6) << r.err;
      EXPECT_NE(r.err.find("goscry writes nothing"), std::string::npos) << r.err;
      EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
      continue;
    }
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("wrote runtime.MemProfileRate = 4096 at 0x"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(", was 0;"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("\"mem_profile_rate\": 4096"), std::string::npos) << r.out;
  }
}

TEST(HeapProfile, NonGoProcessIsAClearError) {
  auto proc = LiveProcess::start({"sh", "-c", "echo ready; exec cat"});
  ASSERT_TRUE(proc) << proc.error().message;
  auto r =
      run_command({testing::goscry_binary(), "heap", "--pid", std::to_string((*proc)->pid())});
  EXPECT_EQ(r.exit_code, 6) << r.err;  // unsupported
  EXPECT_NE(r.err.find("not a Go binary"), std::string::npos) << r.err;
}

TEST(HeapProfile, TargetThatExitsMidReadGivesAClearMessageNotACrash) {
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty());
  // The window of a delta: the target exits between the two reads, every time.
  {
    auto proc = LiveProcess::start({fixtures.front().path});
    ASSERT_TRUE(proc) << proc.error().message;
    testing::ChildProcess heap({testing::goscry_binary(), "heap", "--pid",
                                std::to_string((*proc)->pid()), "--seconds", "60"});
    auto first = heap.read_err_line();
    ASSERT_TRUE(first && first->find("stacks read") != std::string::npos) << first.value_or("");
    (*proc)->close_stdin();  // the fixture exits on EOF
    ASSERT_TRUE((*proc)->wait_exit(60s));
    EXPECT_EQ(heap.wait(), 5);  // the target exited (README.md "Exit status")
    const std::string err = heap.rest_of_stderr();
    EXPECT_NE(err.find("exited"), std::string::npos) << err;
    EXPECT_EQ(split_lines(err).size(), 1u) << err;
  }
  // A kill during a read of 16384 stacks: done or one sentence, never a crash.
  for (int i = 0; i < 5; ++i) {
    auto proc = LiveProcess::start({fixtures.front().path, "-stacks", "16384", "-rate", "1"});
    ASSERT_TRUE(proc) << proc.error().message;
    const pid_t pid = (*proc)->pid();
    std::thread killer([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(500 * i));
      (*proc)->kill();
    });
    auto r = run_command({testing::goscry_binary(), "heap", "--pid", std::to_string(pid),
                          "--format", "json"});
    killer.join();
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 5) << r.exit_code << " " << r.err;
    if (r.exit_code == 5) {
      EXPECT_TRUE(r.err.find("exited") != std::string::npos ||
                  r.err.find("no process") != std::string::npos)
          << r.err;
    }
  }
}

// The leaf function of a sample: the innermost line of its first location.
std::string leaf_function(const StackKey& k) {
  return k.first.empty() ? "" : k.first.front().substr(0, k.first.front().find(' '));
}

// A reply's body to a file, for `go tool pprof`.
std::string saved(const testing::HttpReply& r, const std::string& name) {
  const std::string path = temp_file(name);
  std::ofstream(path, std::ios::binary) << r.body;
  return path;
}

// The sample of goscry_alloc_bytes_total for this pid and site; -1 when absent.
double alloc_metric(const std::string& metrics, const std::string& pid, const std::string& site) {
  for (const auto& line : split_lines(metrics))
    if (line.starts_with("goscry_alloc_bytes_total{pid=\"" + pid + "\"") &&
        line.find("site=\"" + site + "\"}") != std::string::npos)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

// The agent's /debug/pprof/heap of each heapsites build equals the build's own heap
// profile at the same quiescent point, stack for stack and value for value (the verb's
// oracle above, through the agent); its goscry_alloc_bytes_total{site} equals the own
// profile's alloc_space summed per leaf function.
TEST(HeapProfile, AgentHeapRouteAndAllocMetricEqualTheTargetsOwn) {
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty()) << "no heapsites fixtures were built";
  std::vector<std::unique_ptr<LiveProcess>> procs;
  std::vector<std::string> args = {"--no-bpf", "--no-leaks", "--profile-hz", "0"};
  for (const auto& f : fixtures) {
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    args.insert(args.end(), {"--pid", std::to_string((*proc)->pid())});
    procs.push_back(std::move(*proc));
  }
  testing::AgentProcess agent(args);
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    SCOPED_TRACE(fixtures[i].label());
    LiveProcess& proc = *procs[i];
    const std::string pid = std::to_string(proc.pid());
    const std::string theirs = temp_file("own-heap-" + pid + ".pb.gz");
    bool compared = false;
    for (int round = 0; round < 5 && !compared; ++round) {
      proc.send("gc\n");
      const long before = numgc_after(proc, "quiet ");
      auto reply = testing::http_get(agent.url("/debug/pprof/heap?pid=" + pid));
      ASSERT_EQ(reply.status, 200) << reply.body << reply.error;
      EXPECT_EQ(reply.content_type, "application/octet-stream");
      proc.send("heap " + theirs + "\n");
      const long after = numgc_after(proc, "written ");
      if (before != after) continue;
      compared = true;
      RawProfile got = raw_profile(saved(reply, "agent-heap-" + pid + ".pb.gz"));
      RawProfile want = raw_profile(theirs);
      EXPECT_EQ(got.period, want.period);
      EXPECT_EQ(got.samples, want.samples) << "agent:\n"
                                           << describe(got.samples) << "the program's own:\n"
                                           << describe(want.samples);
      // The metric, once the agent's periodic read (5 s after attach, then every 10 s)
      // has published it; main.liveSmall allocates nothing after "ready".
      std::map<std::string, long long> by_leaf;
      for (const auto& [k, v] : want.samples) by_leaf[leaf_function(k)] += v[1];
      ASSERT_GT(by_leaf["main.liveSmall"], 0) << want.text;
      double metric = -1;
      testing::poll_until(
          [&] {
            metric = alloc_metric(testing::http_get(agent.url("/metrics")).body, pid,
                                  "main.liveSmall");
            return metric >= 0;
          },
          60s);
      EXPECT_EQ(metric, double(by_leaf["main.liveSmall"])) << agent.log();
    }
    EXPECT_TRUE(compared) << "the fixture kept running GCs between the two reads";
  }
  // Go's shapes and refusals.
  const std::string pid = std::to_string(procs.back()->pid());
  auto text = testing::http_get(agent.url("/debug/pprof/heap?pid=" + pid + "&debug=1"));
  EXPECT_EQ(text.status, 200);
  EXPECT_TRUE(text.body.starts_with("heap profile: ")) << text.body;
  EXPECT_NE(text.body.find("\tmain.liveSmall\t"), std::string::npos) << text.body;
  EXPECT_EQ(testing::http_get(agent.url("/debug/pprof/heap?pid=" + pid + "&gc=1")).status, 400);
  EXPECT_EQ(testing::http_get(agent.url("/debug/pprof/allocs?pid=" + pid + "&seconds=301")).status,
            400);
  EXPECT_EQ(
      testing::http_get(agent.url("/debug/pprof/allocs?pid=" + pid + "&seconds=1&debug=1")).status,
      400);
  EXPECT_EQ(testing::http_get(agent.url("/debug/pprof/heap?pid=1")).status, 404);
  EXPECT_EQ(testing::http_get(agent.url("/debug/pprof/heap")).status, 400);
}

// /debug/pprof/allocs?seconds=N names the churning sites in the fixture's 1:3 proportion,
// alloc_space first as Go's allocs profile; a second request for the same target while one
// is collecting is refused at once (429), never queued.
TEST(HeapProfile, AgentAllocsWindowNamesTheSitesInTheirProportionsOneAtATime) {
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.back().path, "-churn", "-rate", "4096"});
  ASSERT_TRUE(proc) << proc.error().message;
  const std::string pid = std::to_string((*proc)->pid());
  testing::AgentProcess agent({"--no-bpf", "--no-leaks", "--profile-hz", "0", "--pid", pid});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  testing::HttpReply window;
  // Retried while refused: the probe below may hold the target's one read slot.
  std::thread first([&] {
    for (int i = 0; i < 20 && window.status != 200; ++i)
      window = testing::http_get(agent.url("/debug/pprof/allocs?pid=" + pid + "&seconds=3"));
  });
  // The second request while the first one's window is open (polled: a loaded machine may
  // start the first late).
  int second = 0;
  testing::poll_until(
      [&] {
        second = testing::http_get(agent.url("/debug/pprof/allocs?pid=" + pid)).status;
        return second == 429;
      },
      3s);
  first.join();
  EXPECT_EQ(second, 429);
  ASSERT_EQ(window.status, 200) << window.body << window.error;
  RawProfile p = raw_profile(saved(window, "agent-allocs-" + pid + ".pb.gz"));
  const long long one = sum_with(p, "main.churnOne", 1);
  const long long three = sum_with(p, "main.churnThree", 1);
  ASSERT_GT(one, 0) << p.text;
  EXPECT_NEAR(double(three) / double(one), 3.0, 0.3) << "churnOne " << one << " churnThree " << three;
  EXPECT_EQ(sum_with(p, "main.liveSmall", 1), 0) << p.text;
}

}  // namespace
}  // namespace goscry
