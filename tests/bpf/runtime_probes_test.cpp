// The runtime probes on real Go programs, against the programs' own ground truth: the churn
// fixture prints, at quiescent points, what it created and what ended per site, and the
// GC figures of runtime/metrics; the BPF counters and STW events must say the same.
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "agent/probes/attacher.h"
#include "agent/probes/bpf_loader.h"
#include "agent/probes/gc_cycles.h"
#include "symbolizer/runtime_layout.h"
#include "agent/proc/privileges.h"
#include "symbolizer/elf_file.h"
#include "tests/support/child.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::all_fixtures;

// A fixture run with its stdin and stdout on pipes, killed when the test ends; `env` is
// added to its environment, and a `cpu` >= 0 is the only CPU it may run on.
class Child {
 public:
  explicit Child(const std::string& path, const std::vector<std::string>& env = {},
                 int cpu = -1) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      if (cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) _exit(126);
      }
      execl(path.c_str(), path.c_str(), nullptr);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Child() {
    if (to_ >= 0) close(to_);
    if (from_ >= 0) close(from_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int pid() const { return pid_; }
  void send_line() { (void)!write(to_, "\n", 1); }
  // The next line of output; "" after 60 s of silence or at EOF.
  std::string read_line() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, 60000) <= 0) return "";
      char tmp[4096];
      ssize_t n = read(from_, tmp, sizeof tmp);
      if (n <= 0) return "";
      buf_.append(tmp, n);
    }
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_;
};

struct SiteTruth {
  std::uint64_t created = 0, exited = 0;
};

// One "state ..." line of the churn fixture.
struct State {
  std::string label;
  std::map<std::string, SiteTruth> sites;
  std::uint64_t gc_cycles = 0;
  std::uint64_t pauses = 0;
  std::map<std::pair<double, double>, std::uint64_t> buckets;  // [lo, hi) seconds -> count
};

double from_bits(const std::string& hex) {
  std::uint64_t bits = std::strtoull(hex.c_str(), nullptr, 16);
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

State parse_state(const std::string& line) {
  State s;
  std::istringstream in(line);
  std::string word;
  in >> word >> s.label;
  while (in >> word) {
    if (word == "site") {
      std::string name;
      SiteTruth t;
      in >> name >> t.created >> t.exited;
      s.sites[name] = t;
    } else if (word == "gc") {
      in >> s.gc_cycles;
    } else if (word == "pauses") {
      std::string metric;
      in >> metric >> s.pauses;
    } else if (word == "bucket") {
      std::string lo, hi;
      std::uint64_t n;
      in >> lo >> hi >> n;
      s.buckets[{from_bits(lo), from_bits(hi)}] = n;
    }
  }
  return s;
}

// The function containing pc, from .symtab (the fixture is unstripped).
std::string function_at(const ElfFile& elf, std::uint64_t pc) {
  for (const auto& s : elf.symbols())
    if (s.type == STT_FUNC && pc >= s.value && pc < s.value + s.size) return s.name;
  return "?";
}

// Uprobes held by this process: each is a perf event fd ("anon_inode:[perf_event]").
int perf_event_fds() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd) {
    char link[64], target[64] = {};
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if (readlink(link, target, sizeof target - 1) > 0 &&
        std::string(target) == "anon_inode:[perf_event]")
      ++n;
  }
  return n;
}

// Skips only for a missing privilege, and fails even then under CI=true (a missing
// privilege must not pass silently in CI); a kernel that refuses the programs always fails.
#define SKIP_OR_FAIL_WITHOUT_BPF(loader)                                             \
  if (!loader) {                                                                     \
    const char* ci = std::getenv("CI");                                              \
    if (!missing_privileges() || (ci && std::string(ci) == "true"))                  \
      FAIL() << loader.error().message;                                              \
    GTEST_SKIP() << loader.error().message;                                          \
  }

struct Pause {
  std::uint64_t ns;
  std::uint32_t reason;
};

TEST(RuntimeProbes, CountGoroutinesPerSiteAndGcCyclesLikeTheRuntime) {
  auto loader = BpfLoader::open();
  SKIP_OR_FAIL_WITHOUT_BPF(loader);
  auto fixtures = all_fixtures("churn");
  ASSERT_FALSE(fixtures.empty());
  std::uint64_t read_failed_before = 0;
  for (const auto& f : fixtures) {
    if (f.variant != "plain" && f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    auto minor = go_minor_version(std::string_view(f.go_version));
    ASSERT_TRUE(minor);
    Child child(f.path);
    ASSERT_EQ(child.read_line(), "ready");
    const std::size_t log_before = (*loader)->attach_log().size();
    const int fds_before = perf_event_fds();
    auto attached = Attachment::attach(**loader, child.pid(), f.go_version);
    ASSERT_TRUE(attached) << attached.error().message;
    // Every end counted in the kernel from here on, none sent as an event (the fixture is
    // idle until told; the goroutine tracker's way with events is the verbs' tests' part).
    ASSERT_TRUE((*attached)->set_event_goid_max(0));
    EXPECT_EQ(perf_event_fds(), fds_before + int((*attached)->probe_count()));
    // Never a return probe, whatever was attached.
    const auto& log = (*loader)->attach_log();
    ASSERT_GT(log.size(), log_before);
    for (std::size_t i = log_before; i < log.size(); ++i) EXPECT_FALSE(log[i].retprobe);
    auto bias = load_bias(child.pid(), **elf);
    ASSERT_TRUE(bias) << bias.error().message;
    child.send_line();

    std::uint64_t short_by = 0, events = 0;  // events the probes missed, and all of them
    std::vector<Pause> pauses;  // GC pauses seen by the probes since attach
    std::uint64_t cycles = 0;
    GcCycles tracker;
    State begin;
    for (int phase = 0; phase < 4; ++phase) {
      std::string line = child.read_line();
      ASSERT_TRUE(line.starts_with("state ")) << "fixture said: " << line;
      State st = parse_state(line);
      SCOPED_TRACE(st.label);
      if (phase == 0) begin = st;

      // Per site: created and exited equal what the program counted.
      auto counts = (*loader)->site_counts(child.pid());
      ASSERT_TRUE(counts) << counts.error().message;
      std::map<std::string, SiteTruth> seen;
      for (const auto& c : *counts) {
        auto& t = seen[function_at(**elf, c.gopc - *bias)];
        t.created += c.created;
        t.exited += c.exited;
      }
      // Since attach (the begin state): spawnEarly's goroutines predate the probes, so
      // their exits count at a site that created none since (the top test checks those).
      // Exact, but for an event whose g the kernel could not read without a page fault
      // (read_failed below): never more than the program counted.
      short_by = events = 0;
      auto expect_counted = [&](const std::string& name, std::uint64_t ours,
                                std::uint64_t theirs) {
        EXPECT_LE(ours, theirs) << name;
        short_by += theirs > ours ? theirs - ours : 0;
      };
      for (const auto& [name, truth] : st.sites) {
        expect_counted(name, seen[name].created, truth.created - begin.sites[name].created);
        if (name != "main.spawnEarly") {
          expect_counted(name, seen[name].exited, truth.exited - begin.sites[name].exited);
        }
        events += truth.created - begin.sites[name].created;
      }

      // GC: completed cycles, and the GC pauses bucketed like the runtime's histogram.
      auto drained = (*loader)->drain([&](const goscry_event& e) {
        if (e.kind != GOSCRY_EV_STW || e.tgid != std::uint32_t(child.pid())) return;
        if (e.flags & GOSCRY_STW_CYCLE_DONE) ++cycles;
        if (auto c = tracker.add(e)) {
          EXPECT_TRUE(c->whole) << "cycle " << c->number;
          EXPECT_GT(c->mark_phase_ns, 0u);
          EXPECT_LT(c->sweep_term.end_ns, c->mark_term.start_ns);
        }
        if (e.reason == GOSCRY_STW_GC_MARK_TERM || e.reason == GOSCRY_STW_GC_SWEEP_TERM)
          pauses.push_back({e.end_ns - e.start_ns, e.reason});
      });
      ASSERT_TRUE(drained) << drained.error().message;
      EXPECT_EQ(cycles, st.gc_cycles - begin.gc_cycles);
      EXPECT_EQ(pauses.size(), st.pauses - begin.pauses);
      // Bucketed with the runtime's own histogram boundaries, every GC pause lands where
      // the runtime put it: 1.22+ because the probes see the same `now - startedStopping`,
      // <= 1.21 because they read the runtime's clock (work.pauseStart, work.tEnd).
      std::map<std::pair<double, double>, std::uint64_t> ours;
      for (const auto& p : pauses) {
        double secs = double(p.ns) / 1e9;
        for (const auto& [range, n] : st.buckets)
          if (secs >= range.first && secs < range.second) ++ours[range];
      }
      std::uint64_t misplaced = 0;
      for (const auto& [range, n] : st.buckets) {
        std::uint64_t theirs = n - (begin.buckets.count(range) ? begin.buckets.at(range) : 0);
        misplaced += theirs > ours[range] ? theirs - ours[range] : 0;
      }
      EXPECT_EQ(misplaced, 0u) << pauses.size() << " pauses";
      child.send_line();
    }
    EXPECT_GT(cycles, 3u);
    EXPECT_EQ(tracker.completed(), cycles);
    // The fixture's one ReadMemStats, named as the runtime names it (1.19-1.20 included).
    ASSERT_EQ(tracker.other_pauses().size(), 1u);
    EXPECT_EQ(tracker.other_pauses()[0].reason_name, "read mem stats");
    std::printf("%s: %llu GC cycles, %zu GC pauses, each in the runtime's histogram bucket\n",
                f.label().c_str(), (unsigned long long)cycles, pauses.size());

    auto counters = (*loader)->counters();
    ASSERT_TRUE(counters);
    // A read the kernel cannot serve without a fault (bpf_probe_read_user never faults: a
    // page being migrated or collapsed into a huge page at that instant) loses its event:
    // counted, served as goscry_events_lost_total, never guessed. Seen once: 279 of 280
    // creations on a 6.12 guest, with one read failed. Each miss above is such a read, and
    // they stay rare (a probe reading the wrong register would fail every time). A failed
    // read before the fixture's first state is counted but misses nothing compared: <=.
    const std::uint64_t read_failed = (*counters)[GOSCRY_CNT_READ_FAILED] - read_failed_before;
    read_failed_before = (*counters)[GOSCRY_CNT_READ_FAILED];
    EXPECT_LE(short_by, read_failed);
    EXPECT_LE(read_failed, 1 + events / 1000) << events << " creations";
    EXPECT_EQ((*counters)[GOSCRY_CNT_RINGBUF_FULL], 0u);
    EXPECT_EQ((*counters)[GOSCRY_CNT_SITE_MAP_FULL], 0u);
    EXPECT_EQ((*counters)[GOSCRY_CNT_STW_MAP_FULL], 0u);

    attached->reset();  // detach: every uprobe and the target's map entries go
    EXPECT_EQ(perf_event_fds(), fds_before);
    auto after = (*loader)->site_counts(child.pid());
    ASSERT_TRUE(after);
    EXPECT_TRUE(after->empty());
  }
}


// With the trace flag, every creation and exit also comes as an event carrying the new
// goroutine's goid, parent goid (1.21+), creation site and start function.
TEST(RuntimeProbes, TraceEventsDescribeEachGoroutine) {
  auto loader = BpfLoader::open();
  SKIP_OR_FAIL_WITHOUT_BPF(loader);
  for (const auto& f : all_fixtures("churn")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    auto minor = go_minor_version(std::string_view(f.go_version));
    ASSERT_TRUE(minor);
    Child child(f.path);
    ASSERT_EQ(child.read_line(), "ready");
    auto attached =
        Attachment::attach(**loader, child.pid(), f.go_version, GOSCRY_TRACE_GOROUTINES);
    ASSERT_TRUE(attached) << attached.error().message;
    child.send_line();
    std::map<std::uint64_t, goscry_event> created;  // by goid
    std::map<std::string, std::uint64_t> created_by_start, exited_by_site;
    State st;
    for (int phase = 0; phase < 4; ++phase) {
      std::string line = child.read_line();
      ASSERT_TRUE(line.starts_with("state ")) << "fixture said: " << line;
      st = parse_state(line);
      auto drained = (*loader)->drain([&](const goscry_event& e) {
        if (e.tgid != std::uint32_t(child.pid())) return;
        if (e.kind == GOSCRY_EV_GO_CREATE) {
          EXPECT_FALSE(created.count(e.goid)) << "goid " << e.goid << " created twice";
          created[e.goid] = e;
          ++created_by_start[function_at(**elf, e.startpc)];
        } else if (e.kind == GOSCRY_EV_GO_EXIT && created.count(e.goid)) {
          EXPECT_EQ(e.gopc, created[e.goid].gopc);
          ++exited_by_site[function_at(**elf, e.gopc)];
        }
      });
      ASSERT_TRUE(drained) << drained.error().message;
      child.send_line();
    }
    // Each site's goroutines run its closure: main.spawnX.func1.
    for (const auto& [site, truth] : st.sites) {
      if (site == "main.spawnEarly") continue;  // started before attach
      EXPECT_EQ(created_by_start[site + ".func1"], truth.created) << site;
      EXPECT_EQ(exited_by_site[site], truth.exited) << site;
    }
    // All of them were started by main (goid 1), which 1.21+ records.
    if (*minor >= 21) {
      for (const auto& [goid, e] : created) {
        if (function_at(**elf, e.gopc).starts_with("main.spawn")) {
          EXPECT_EQ(e.parent_goid, 1u);
        }
      }
    }
    auto counters = (*loader)->counters();
    ASSERT_TRUE(counters);
    EXPECT_EQ((*counters)[GOSCRY_CNT_RINGBUF_FULL], 0u);
    EXPECT_EQ((*counters)[GOSCRY_CNT_READ_FAILED], 0u);
    EXPECT_EQ((*counters)[GOSCRY_CNT_SITE_MAP_FULL], 0u);
    EXPECT_EQ((*counters)[GOSCRY_CNT_PROBE_REG_MISSING], 0u);
  }
}

// Threads of one target on one CPU, each entering the probes while another is inside them
// (uprobe programs run preemptible): every exit still names the goroutine its creation
// named. Linux 6.14+ ran such a program's frame on one per-CPU stack shared by the threads
// it preempted (bpf/runtime.bpf.c, keep_frame_on_thread_stack): exits then carried one
// goroutine's goid with another's gopc or start function.
TEST(RuntimeProbes, ThreadsSharingOneCpuNeverMixTheirEvents) {
  auto loader = BpfLoader::open();
  SKIP_OR_FAIL_WITHOUT_BPF(loader);
  for (const auto& f : all_fixtures("churn")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    Child child(f.path, {"CHURN_MODE=busy", "GOMAXPROCS=4"}, /*cpu=*/0);
    ASSERT_EQ(child.read_line(), "ready");
    auto attached =
        Attachment::attach(**loader, child.pid(), f.go_version, GOSCRY_TRACE_GOROUTINES);
    ASSERT_TRUE(attached) << attached.error().message;
    std::map<__u64, std::pair<__u64, __u64>> alive;  // goid -> gopc, startpc
    std::uint64_t ended = 0, mixed = 0, created_twice = 0;
    std::string example;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < until) {
      auto polled = (*loader)->poll(100, [&](const goscry_event& e) {
        if (e.tgid != std::uint32_t(child.pid())) return;
        const std::pair site{e.gopc, e.startpc};
        if (e.kind == GOSCRY_EV_GO_CREATE) {
          created_twice += !alive.emplace(e.goid, site).second;
          return;
        }
        auto it = alive.find(e.goid);
        if (e.kind != GOSCRY_EV_GO_EXIT || it == alive.end()) return;
        ++ended;
        if (it->second != site && ++mixed == 1)
          example = "goroutine " + std::to_string(e.goid) + " created at gopc " +
                    std::to_string(it->second.first) + ", ended at gopc " + std::to_string(e.gopc);
        alive.erase(it);
      });
      ASSERT_TRUE(polled) << polled.error().message;
    }
    EXPECT_EQ(mixed, 0u) << example;
    EXPECT_EQ(created_twice, 0u);
    EXPECT_GT(ended, 1000u);
    std::printf("%s: %llu goroutines seen created and ended on one CPU, %llu mixed\n",
                f.label().c_str(), (unsigned long long)ended, (unsigned long long)mixed);
  }
}
}  // namespace
}  // namespace goscry

namespace goscry {
namespace {

// Loading without CAP_BPF (and without CAP_SYS_ADMIN, which stands in for it) fails with
// the one sentence that names the capability. Run in a child that really drops them.
TEST(BpfLoader, NamesTheMissingCapabilityWhenItCannotLoad) {
  if (missing_privileges()) GTEST_SKIP() << "needs root to drop capabilities from";
  std::string out = testing::in_child([] {
    if (!testing::drop_effective_capabilities({21 /*SYS_ADMIN*/, 39 /*BPF*/})) return std::string("capset failed");
    auto loader = BpfLoader::open();
    return loader ? std::string("loaded") : loader.error().message;
  });
  EXPECT_EQ(out,
            "goscry needs CAP_BPF to probe Go processes (run it as root or grant the "
            "capabilities)");
}

}  // namespace
}  // namespace goscry
