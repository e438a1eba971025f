// goscry block / goscry mutex against the oracle of the target itself: the contention
// fixture sets no profiling rate; goscry writes the rates (--enable-sampling, its one write
// to a target), the fixture contends on a mutex and blocks on channels, stops, and writes
// its own block and mutex profiles with runtime/pprof (what /debug/pprof/block and
// /debug/pprof/mutex answer). goscry's profiles, read from the fixture's memory at the same
// quiescent point, must hold the same stacks with the same contentions and delays within
// 10 %, on every toolchain, plain, stripped and PIE. Both are read with `go tool pprof -raw`, the
// reference reader, not with goscry's code.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

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

struct Values {
  long long contentions = 0, delay = 0;
};

struct RawProfile {
  // Per stack (one "function file:line | caller file:line" per location, leaf first).
  std::map<std::vector<std::string>, Values> samples;
  std::string text;
};

// The profile as `go tool pprof -raw` reads it, summed per stack.
RawProfile raw_profile(const std::string& path) {
  testing::RawPprof raw = testing::read_raw_pprof(path);
  RawProfile p;
  p.text = std::move(raw.text);
  for (const auto& s : raw.samples) {
    EXPECT_EQ(s.values.size(), 2u) << p.text;
    if (s.values.size() != 2) continue;
    auto& sum = p.samples[s.stack];
    sum.contentions += s.values[0];
    sum.delay += s.values[1];
  }
  return p;
}

// The program's own stacks: those through a main. function, but for contention on the
// runtime's own locks (runtime.unlock at the leaf), which the runtime may record at any
// moment, between the two reads too: the fixture's handling of a command contends on them
// (exitsyscall after reading stdin) even through main.main.
std::map<std::vector<std::string>, Values> program_stacks(const RawProfile& p) {
  std::map<std::vector<std::string>, Values> out;
  for (const auto& [k, v] : p.samples) {
    if (!k.empty() && k.front().starts_with("runtime.unlock ")) continue;
    for (const auto& l : k)
      if (l.starts_with("main.") || l.find("| main.") != std::string::npos) {
        out[k] = v;
        break;
      }
  }
  return out;
}

Values total(const std::map<std::vector<std::string>, Values>& samples,
             const std::string& function = "") {
  Values t;
  for (const auto& [k, v] : samples) {
    bool with = function.empty();
    for (const auto& l : k)
      with |= l.starts_with(function + " ") || l.find("| " + function + " ") != std::string::npos;
    if (!with) continue;
    t.contentions += v.contentions;
    t.delay += v.delay;
  }
  return t;
}

std::string describe(const std::map<std::vector<std::string>, Values>& samples) {
  std::string out;
  for (const auto& [k, v] : samples) {
    out += std::to_string(v.contentions) + " " + std::to_string(v.delay) + ":";
    for (const auto& l : k) out += "\n    " + l;
    out += "\n";
  }
  return out;
}

std::string temp_file(const std::string& name) {
  return ::testing::TempDir() + "/" + std::to_string(getpid()) + "-" + name;
}

// goscry's profile (by `goscry KIND -o FILE`, or `write` for another way to FILE) and the
// program's own, taken one after the other at a quiescent point.
void expect_same_profile(LiveProcess& proc, const std::string& kind, const std::string& main_fn,
                         std::function<bool(const std::string&)> write = nullptr) {
  SCOPED_TRACE(kind);
  const std::string ours = temp_file("goscry-" + kind + ".pb.gz");
  const std::string theirs = temp_file("own-" + kind + ".pb.gz");
  if (write) {
    ASSERT_TRUE(write(ours));
  } else {
    auto r = run_command(
        {testing::goscry_binary(), kind, "--pid", std::to_string(proc.pid()), "-o", ours});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  proc.send(kind + " " + theirs + "\n");
  auto written = proc.wait_for_prefix("written", 60s);
  ASSERT_TRUE(written) << written.error().message;
  // Every location has a function: the sentinel that starts a logical stack (Go 1.23+, the
  // runtime's own locks) is not a pc.
  for (const auto& [k, v] : raw_profile(ours).samples)
    for (const auto& l : k) EXPECT_FALSE(l.empty()) << describe(program_stacks(raw_profile(ours)));
  const auto got = program_stacks(raw_profile(ours));
  const auto want = program_stacks(raw_profile(theirs));
  std::vector<std::vector<std::string>> got_keys, want_keys;
  for (const auto& [k, v] : got) got_keys.push_back(k);
  for (const auto& [k, v] : want) want_keys.push_back(k);
  EXPECT_EQ(got_keys, want_keys) << "goscry:\n"
                                 << describe(got) << "the program's own:\n"
                                 << describe(want);
  const Values g = total(got), w = total(want);
  EXPECT_GT(total(want, main_fn).contentions, 0) << describe(want);
  EXPECT_NEAR(double(g.contentions), double(w.contentions), 0.1 * double(w.contentions));
  EXPECT_NEAR(double(g.delay), double(w.delay), 0.1 * double(w.delay));
  // Stack by stack, too: the same records read from the same memory.
  for (const auto& [k, v] : want)
    if (auto it = got.find(k); it != got.end()) {
      EXPECT_NEAR(double(it->second.contentions), double(v.contentions),
                  0.1 * double(v.contentions));
      EXPECT_NEAR(double(it->second.delay), double(v.delay), 0.1 * double(v.delay));
    }
}

// Enables the rate with goscry: exit 0, one line on stderr naming the variable and the
// value written, and nothing else written to the target.
void enable(LiveProcess& proc, const std::string& kind, const std::string& rate,
            const std::string& variable, const std::string& word) {
  auto r = run_command({testing::goscry_binary(), kind, "--pid", std::to_string(proc.pid()),
                        "--enable-sampling=" + rate, "--seconds", "1", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string wrote = "wrote " + variable + " = " + (word.empty() ? "" : word + " ");
  EXPECT_NE(r.err.find(wrote), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(", was 0;"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("\"report\": \"" + kind + "_delta\""), std::string::npos) << r.out;
}

TEST(ContentionProfile, EqualsTheTargetsOwnProfilesWithRatesSetByGoscry) {
  auto fixtures = all_fixtures("contention");
  ASSERT_FALSE(fixtures.empty()) << "no contention fixtures were built";
  for (const auto& f : fixtures) {
    // cgo's external linking moves sections but not these lists; the heap tests cover it.
    if (f.variant == "cgo") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    // 1000 ns in cputicks depends on the clock; the mutex fraction is the word itself.
    enable(**proc, "block", "1000", "runtime.blockprofilerate", "");
    enable(**proc, "mutex", "2", "runtime.mutexprofilerate", "2");
    auto heap = run_command({testing::goscry_binary(), "heap", "--pid",
                             std::to_string((*proc)->pid()), "--enable-sampling=8192",
                             "--seconds", "1", "--format", "json"});
    ASSERT_EQ(heap.exit_code, 0) << heap.err;
    EXPECT_NE(heap.err.find("wrote runtime.MemProfileRate = 8192 at 0x"), std::string::npos)
        << heap.err;
    EXPECT_NE(heap.err.find(", was 524288;"), std::string::npos) << heap.err;
    (*proc)->send("rates\n");
    auto rates = (*proc)->wait_for_prefix("rates ", 60s);
    ASSERT_TRUE(rates) << rates.error().message;
    // The target's own SetMutexProfileFraction(-1) and runtime.MemProfileRate.
    EXPECT_EQ(*rates, "rates 2 8192");
    (*proc)->send("work\n");
    ASSERT_TRUE((*proc)->wait_for_prefix("done", 120s));
    expect_same_profile(**proc, "block", "main.recvLate");
    expect_same_profile(**proc, "mutex", "main.holdMutex");
  }
}

// The bucket lists grow under the reads (the fixture blocks and contends from a new stack
// about every millisecond): the runtime pushes new buckets at the head and never frees or
// relinks one, so a walk from the head read first is a fixed set, read whole with no retry
// (profile_buckets.h). Each read succeeds; each holds every stack of the read before it,
// none with fewer events; and the lists did grow between the first read and the last.
TEST(ContentionProfile, AListGrowingUnderTheReadsIsReadWholeEachTime) {
  auto fixtures = all_fixtures("contention");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.back().path});
  ASSERT_TRUE(proc) << proc.error().message;
  enable(**proc, "block", "1000", "runtime.blockprofilerate", "");
  enable(**proc, "mutex", "1", "runtime.mutexprofilerate", "1");
  (*proc)->send("grow\n");
  ASSERT_TRUE((*proc)->wait_for_prefix("growing", 60s));
  for (const std::string kind : {"block", "mutex"}) {
    SCOPED_TRACE(kind);
    std::map<std::string, long long> before;  // events per stack (its pcs) at the last read
    std::size_t first = 0;
    for (int i = 0; i < 8; ++i) {
      auto r = run_command({testing::goscry_binary(), kind, "--pid",
                            std::to_string((*proc)->pid()), "--format", "json"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      std::map<std::string, long long> now;
      const auto report = nlohmann::json::parse(r.out);
      for (const auto& s : report.at("samples")) {
        std::string key;
        for (const auto& f : s.at("stack")) key += f.at("pc").get<std::string>() + " ";
        now[key] += s.at("recorded").at("count").get<long long>();
      }
      for (const auto& [stack, count] : before) {
        auto it = now.find(stack);
        ASSERT_NE(it, now.end()) << "read " << i << " lost a stack: " << stack;
        EXPECT_GE(it->second, count) << "read " << i << ": fewer events on " << stack;
      }
      if (i == 0) first = now.size();
      before = std::move(now);
      std::this_thread::sleep_for(100ms);
    }
    std::printf("%s: %zu stacks at the first read, %zu at the last\n", kind.c_str(), first,
                before.size());
    EXPECT_GT(before.size(), first) << "the list did not grow under the reads";
  }
}

TEST(ContentionProfile, EnableSamplingIsRefusedWithoutTheFlagAndNothingIsWritten) {
  auto fixtures = all_fixtures("contention");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.back().path});
  ASSERT_TRUE(proc) << proc.error().message;
  for (const std::string kind : {"block", "mutex"}) {
    auto r = run_command({testing::goscry_binary(), kind, "--pid",
                          std::to_string((*proc)->pid())});
    EXPECT_EQ(r.exit_code, 6) << r.err;  // unsupported (README.md "Exit status")
    EXPECT_NE(r.err.find("--enable-sampling"), std::string::npos) << r.err;
    EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
  }
  (*proc)->send("rates\n");
  auto rates = (*proc)->wait_for_prefix("rates ", 60s);
  ASSERT_TRUE(rates) << rates.error().message;
  EXPECT_EQ(*rates, "rates 0 524288");
}

TEST(ContentionProfile, TextAndJsonNameTheContendingFunctions) {
  auto fixtures = all_fixtures("contention");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.back().path});
  ASSERT_TRUE(proc) << proc.error().message;
  const std::string pid = std::to_string((*proc)->pid());
  auto on = run_command({testing::goscry_binary(), "mutex", "--pid", pid, "--enable-sampling=1",
                         "--seconds", "1"});
  ASSERT_EQ(on.exit_code, 0) << on.err;
  (*proc)->send("work\n");
  ASSERT_TRUE((*proc)->wait_for_prefix("done", 120s));
  auto text = run_command({testing::goscry_binary(), "mutex", "--pid", pid});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(text.out.starts_with("--- mutex:\ncycles/second=")) << text.out;
  EXPECT_NE(text.out.find("\nsampling period=1\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("\tmain.holdMutex\t"), std::string::npos) << text.out;
  auto json = run_command({testing::goscry_binary(), "mutex", "--pid", pid, "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("\"function\": \"main.holdMutex\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"mutex_profile_fraction\": 1"), std::string::npos) << json.out;
}

// A target that exits during a window: exit status 5 and one sentence naming the exit;
// a process that is not Go: exit status 6 and one sentence.
TEST(ContentionProfile, TargetThatExitsOrIsNotGoIsOneSentence) {
  auto fixtures = all_fixtures("contention");
  ASSERT_FALSE(fixtures.empty());
  for (const std::string kind : {"block", "mutex"}) {
    SCOPED_TRACE(kind);
    auto proc = LiveProcess::start({fixtures.front().path});
    ASSERT_TRUE(proc) << proc.error().message;
    testing::ChildProcess verb({testing::goscry_binary(), kind, "--pid",
                                std::to_string((*proc)->pid()), "--seconds", "60"});
    auto first = verb.read_err_line();
    ASSERT_TRUE(first && first->find("stacks read") != std::string::npos) << first.value_or("");
    (*proc)->close_stdin();  // the fixture exits on EOF
    ASSERT_TRUE((*proc)->wait_exit(60s));
    EXPECT_EQ(verb.wait(), 5);  // the target exited (README.md "Exit status")
    const std::string err = verb.rest_of_stderr();
    EXPECT_NE(err.find("exited"), std::string::npos) << err;
    EXPECT_EQ(split_lines(err).size(), 1u) << err;
  }
  auto sh = LiveProcess::start({"sh", "-c", "echo ready; exec cat"});
  ASSERT_TRUE(sh) << sh.error().message;
  for (const std::string kind : {"block", "mutex"}) {
    auto r = run_command({testing::goscry_binary(), kind, "--pid", std::to_string((*sh)->pid())});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("not a Go binary"), std::string::npos) << r.err;
    EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
  }
}

// The agent's /debug/pprof/block and /debug/pprof/mutex equal the program's own profiles
// (the oracle of the verbs above, through the agent), with Go's text, windows and refusals;
// a program that never set its rates gets the empty profiles Go's own endpoint answers.
TEST(ContentionProfile, AgentRoutesEqualTheTargetsOwnProfiles) {
  auto fixtures = all_fixtures("contention");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.back().path});
  ASSERT_TRUE(proc) << proc.error().message;
  auto off = LiveProcess::start({fixtures.back().path});
  ASSERT_TRUE(off) << off.error().message;
  const std::string pid = std::to_string((*proc)->pid());
  enable(**proc, "block", "1000", "runtime.blockprofilerate", "");
  enable(**proc, "mutex", "2", "runtime.mutexprofilerate", "2");
  (*proc)->send("work\n");
  ASSERT_TRUE((*proc)->wait_for_prefix("done", 120s));
  testing::AgentProcess agent({"--no-bpf", "--no-leaks", "--profile-hz", "0", "--pid", pid,
                               "--pid", std::to_string((*off)->pid())});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  auto route = [&](const std::string& kind, const std::string& query) {
    return testing::http_get(agent.url("/debug/pprof/" + kind + "?" + query));
  };
  for (const std::string kind : {"block", "mutex"}) {
    expect_same_profile(**proc, kind, kind == "block" ? "main.recvLate" : "main.holdMutex",
                        [&](const std::string& path) {
                          auto r = route(kind, "pid=" + pid);
                          EXPECT_EQ(r.status, 200) << r.body << r.error;
                          EXPECT_EQ(r.content_type, "application/octet-stream");
                          std::ofstream(path, std::ios::binary) << r.body;
                          return r.status == 200;
                        });
    auto text = route(kind, "pid=" + pid + "&debug=1");
    EXPECT_EQ(text.status, 200);
    // runtime/pprof names the block profile's text "contention".
    const std::string header = kind == "block" ? "contention" : "mutex";
    EXPECT_TRUE(text.body.starts_with("--- " + header + ":\ncycles/second=")) << text.body;
    // A window over the quiet fixture: a delta with none of its stacks in it.
    auto window = route(kind, "pid=" + pid + "&seconds=1");
    ASSERT_EQ(window.status, 200) << window.body;
    const std::string delta = temp_file("agent-" + kind + "-delta.pb.gz");
    std::ofstream(delta, std::ios::binary) << window.body;
    EXPECT_TRUE(program_stacks(raw_profile(delta)).empty()) << raw_profile(delta).text;
    auto never = route(kind, "pid=" + std::to_string((*off)->pid()));
    ASSERT_EQ(never.status, 200) << never.body;
    const std::string empty = temp_file("agent-" + kind + "-off.pb.gz");
    std::ofstream(empty, std::ios::binary) << never.body;
    EXPECT_TRUE(raw_profile(empty).samples.empty()) << raw_profile(empty).text;
    // One sentence for each bad request, never a profile.
    for (const std::string& q : std::vector<std::string>{"", "pid=abc", "pid=" + pid + "&debug=2",
                                "pid=" + pid + "&seconds=0", "pid=" + pid + "&seconds=301",
                                "pid=" + pid + "&seconds=1&debug=1"})
      EXPECT_EQ(route(kind, q).status, 400) << q;
    EXPECT_EQ(route(kind, "pid=1").status, 404);
  }
  // The agent wrote nothing: the rates are those goscry's verbs set, and still 0 in the
  // other program.
  (*off)->send("rates\n");
  auto rates = (*off)->wait_for_prefix("rates ", 60s);
  ASSERT_TRUE(rates) << rates.error().message;
  EXPECT_EQ(*rates, "rates 0 524288");
}

}  // namespace
}  // namespace goscry
