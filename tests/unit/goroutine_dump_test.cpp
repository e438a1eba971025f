// goscry dump against the oracle of the target itself: the quiescent fixture prints its own
// runtime.Stack(buf, true) once every goroutine is parked and then holds still; goscry dump
// must show the same goroutines, states, wait reasons, creators and function lists, on every
// fixture variant and toolchain. `go tool pprof` reads the debug=0 profile.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/proc/target_pause.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"
#include "tests/support/go_traceback.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::LiveProcess;
using testing::run_command;
using testing::split_lines;

using testing::oracle_traceback;
using testing::parse_traceback;

// Dump and oracle agree on every goroutine that was parked when the fixture printed.
void expect_same_goroutines(const std::string& label, const std::string& oracle_text,
                            const std::string& dump_text) {
  auto oracle = parse_traceback(oracle_text);
  auto dump = parse_traceback(dump_text);
  ASSERT_GE(oracle.size(), 12u) << label << ": oracle:\n" << oracle_text;
  for (const auto& [id, want] : oracle) {
    if (want.state == "running") continue;  // the goroutine that printed the oracle
    SCOPED_TRACE(label + " goroutine " + std::to_string(id));
    auto it = dump.find(id);
    ASSERT_NE(it, dump.end()) << "missing from the dump:\n" << dump_text;
    EXPECT_EQ(it->second.state, want.state);
    EXPECT_EQ(it->second.locked, want.locked) << it->second.header;
    EXPECT_EQ(it->second.functions, want.functions) << dump_text;
    // Byte for byte, each frame's arguments included: the fixture holds still after
    // printing, so the words its runtime read are the ones goscry reads.
    EXPECT_EQ(it->second.printed, want.printed) << dump_text;
    EXPECT_EQ(it->second.created_by, want.created_by);
  }
  // The main goroutine sits in a read(2) of stdin: its stack from g.sched (Go >= 1.23) or
  // from the frame record found above the syscall sp (older Go leaves sched.bp stale).
  ASSERT_TRUE(dump.count(1)) << dump_text;
  EXPECT_EQ(dump[1].state, "syscall") << label;
  ASSERT_FALSE(dump[1].functions.empty()) << label;
  EXPECT_EQ(dump[1].functions.back(), "main.main") << label << "\n" << dump_text;
  for (const auto& [id, got] : dump)
    EXPECT_TRUE(oracle.count(id)) << label << ": goroutine " << id << " [" << got.state
                                  << "] is not in the fixture's own traceback";
}

// A stopped process: 'T' (a signal) or 't' (a ptrace stop, how goscry pauses).
bool stopped(char state) { return state == 'T' || state == 't'; }

bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

TEST(GoroutineDump, MatchesTheTargetsOwnTracebackOnEveryFixture) {
  auto fixtures = all_fixtures("quiescent");
  ASSERT_FALSE(fixtures.empty()) << "no quiescent fixtures were built";
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    const std::string oracle = oracle_traceback((*proc)->output());
    auto r = run_command({testing::goscry_binary(), "dump", "--pid",
                          std::to_string((*proc)->pid())});
    if (r.exit_code != 0 && r.err.find("permission") != std::string::npos && !under_ci())
      GTEST_SKIP() << "cannot read another process's memory here: " << r.err;
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_same_goroutines(f.label(), oracle, r.out);
  }
}

// The goroutines of the traceback a Go program prints on SIGQUIT (and then exits): the
// oracle for the one goroutine runtime.Stack cannot show parked, the caller's own.
std::map<std::uint64_t, testing::TracebackGoroutine> sigquit_traceback(LiveProcess& p) {
  kill(p.pid(), SIGQUIT);
  EXPECT_TRUE(p.wait_exit(std::chrono::seconds(30)));
  std::string text = p.output();
  text.erase(0, text.find("SIGQUIT: quit"));
  text.resize(std::min(text.size(), text.find("\nrax ")));  // the registers, after the stacks
  return parse_traceback(text);
}

// Every toolchain and variant of quiescent, and every toolchain's goplugin host without its
// plugin (a cgo program where a scan for the syscall's frame record once stopped at a stale
// one on 1.19: a Write and sync.Pool.pin under a blocked Read): goroutine 1 sits in a read(2)
// of stdin, which the fixture's own runtime.Stack cannot show (it was running then); its
// SIGQUIT traceback, taken after the dump, shows the same function list.
TEST(GoroutineDump, TheGoroutineInASyscallMatchesItsSigquitTraceback) {
  std::vector<std::pair<std::string, std::string>> targets;  // label, path
  for (const auto& f : all_fixtures("quiescent")) targets.emplace_back(f.label(), f.path);
  for (const auto& b : testing::plugin_builds())
    targets.emplace_back(b.go_version + "/goplugin-host", b.host);
  ASSERT_GT(targets.size(), 4u) << "quiescent or goplugin not built";
  for (const auto& [label, path] : targets) {
    SCOPED_TRACE(label);
    auto proc = LiveProcess::start({path});
    ASSERT_TRUE(proc) << proc.error().message;
    auto r = run_command({testing::goscry_binary(), "dump", "--pid",
                          std::to_string((*proc)->pid())});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto dump = parse_traceback(r.out);
    auto oracle = sigquit_traceback(**proc);
    ASSERT_TRUE(oracle.count(1)) << (*proc)->output();
    EXPECT_EQ(oracle[1].state, "syscall");
    EXPECT_EQ(dump[1].state, "syscall");
    // SIGQUIT's traceback also shows the runtime's frames (runtime.main, runtime.goexit),
    // which runtime.Stack and goscry leave out.
    std::erase_if(oracle[1].functions,
                  [](const std::string& fn) { return fn.starts_with("runtime."); });
    EXPECT_EQ(dump[1].functions, oracle[1].functions) << r.out << "\n" << (*proc)->output();
  }
}

// Under --pause a running goroutine's stack starts from the registers of the thread that
// runs it. The oracle is the program's shape: each burner was started by main.main's
// `go burn(...)`, so its outermost frame is main.burn, under which only its package's burn
// functions run.
TEST(GoroutineDump, PauseShowsTheStacksOfRunningGoroutinesFromTheirThreads) {
  auto fixtures = all_fixtures("cpuburn");
  ASSERT_FALSE(fixtures.empty()) << "no cpuburn fixtures were built";
  int running_with_stack = 0;
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    auto r = run_command({testing::goscry_binary(), "dump", "--pause", "--pid",
                          std::to_string((*proc)->pid())});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const auto& [id, g] : parse_traceback(r.out)) {
      if (!g.created_by.starts_with("main.main")) continue;  // a burner
      if (g.functions.empty()) {
        // Only a thread caught outside the goroutine's own code (the scheduler, a signal
        // handler: another g in its g register) leaves it without one.
        EXPECT_EQ(g.state, "running") << r.out;
        continue;
      }
      EXPECT_EQ(g.functions.back(), "main.burn") << r.out;
      for (const auto& fn : g.functions)  // burn's callees: burnOnce, burnTwice, spin...
        EXPECT_TRUE(fn.starts_with("main.")) << fn << "\n" << r.out;
      if (g.state == "running") ++running_with_stack;
    }
  }
  // Two burners per fixture run on a 2-CPU machine: most stops find some on their CPUs.
  EXPECT_GE(running_with_stack, int(fixtures.size()) / 2);
}

// The frame a signal interrupted, under runtime.asyncPreempt, is symbolized where Go's
// traceback symbolizes it: at its pc from Go 1.21 (the unwinder's unwindTrap after an
// injected call), at pc - 1 before (gentraceback backed up there as under any call). The
// preempted fixture's spinners wait their turn on one P under asyncPreempt, stopped at an
// instruction that starts a line in five of six places; `go tool addr2line` of the pc (or
// of pc - 1) is the oracle. Dumps are taken until such a frame is seen where the two differ.
TEST(GoroutineDump, AFrameInterruptedByAsyncPreemptionIsSymbolizedAsGoDoes) {
  auto fixtures = all_fixtures("preempted");
  ASSERT_FALSE(fixtures.empty()) << "no preempted fixtures were built";
  for (const auto& f : fixtures) {
    if (f.variant != "plain") continue;  // addr2line takes link-time addresses
    SCOPED_TRACE(f.label());
    const bool at_pc = std::stoi(f.go_version.substr(4)) >= 21;  // "go1.NN..."
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    int telling = 0;  // frames whose pc and pc - 1 lie on different lines
    for (int round = 0; round < 20 && telling == 0; ++round) {
      auto r = run_command({testing::goscry_binary(), "dump", "--pause", "--format", "json",
                            "--pid", std::to_string((*proc)->pid())});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      auto j = nlohmann::json::parse(r.out);
      std::vector<std::uint64_t> pcs;
      std::vector<nlohmann::json> shown;
      for (const auto& g : j["goroutines"]) {
        const auto& fr = g["frames"];
        for (std::size_t i = 0; i + 1 < fr.size(); ++i) {
          if (fr[i]["function"] != "runtime.asyncPreempt") continue;
          const auto pc = std::stoull(fr[i + 1]["pc"].get<std::string>(), nullptr, 16);
          pcs.insert(pcs.end(), {pc, pc - 1});
          shown.push_back(fr[i + 1]);
        }
      }
      const auto lines = testing::go_addr2line(f.path, pcs);
      ASSERT_EQ(lines.size(), pcs.size());
      for (std::size_t k = 0; k < shown.size(); ++k) {
        const auto& [exact, before] = std::pair(lines[2 * k], lines[2 * k + 1]);
        const auto& want = at_pc ? exact : before;
        EXPECT_EQ(shown[k]["function"], want.function) << shown[k].dump();
        const std::string got =
            shown[k]["file"].get<std::string>() + ":" + std::to_string(shown[k]["line"].get<int>());
        EXPECT_EQ(got, want.file_line) << shown[k].dump();
        telling += exact.file_line != before.file_line;
      }
    }
    EXPECT_GT(telling, 0) << "no preempted frame where pc and pc - 1 differ in 20 dumps";
  }
}

// Every runnable spinner of five dumps of preempted (run with `args`, GODEBUG=`godebug`)
// has the functions of one of the runnable goroutines of the fixture's own runtime.Stack,
// which must be `want`: the spinners keep running, so the dumps are of later moments.
void expect_preempted_stacks_as_its_own(const std::vector<std::string>& args,
                                        const char* godebug,
                                        const std::set<std::vector<std::string>>& want) {
  auto fixtures = all_fixtures("preempted");
  ASSERT_FALSE(fixtures.empty()) << "no preempted fixtures were built";
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    std::vector<std::string> argv{f.path};
    argv.insert(argv.end(), args.begin(), args.end());
    setenv("GODEBUG", godebug, 1);
    auto proc = LiveProcess::start(argv);
    unsetenv("GODEBUG");
    ASSERT_TRUE(proc) << proc.error().message;
    std::set<std::vector<std::string>> own;
    for (const auto& [id, g] : parse_traceback(oracle_traceback((*proc)->output())))
      if (g.state == "runnable") own.insert(g.functions);
    ASSERT_EQ(own, want) << (*proc)->output();
    int seen = 0;
    for (int round = 0; round < 5; ++round) {
      auto r = run_command({testing::goscry_binary(), "dump", "--pid",
                            std::to_string((*proc)->pid())});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      for (const auto& [id, g] : parse_traceback(r.out)) {
        // The spinners (main.main may be runnable too, back from writing "ready").
        if (g.state != "runnable" || g.created_by.empty()) continue;
        EXPECT_TRUE(own.contains(g.functions)) << r.out;
        ++seen;
      }
    }
    EXPECT_GT(seen, 0) << "no runnable goroutine in 5 dumps";
  }
}

// "prologue" spinners wait their turn stopped in main.step's prologue (a synchronous
// preemption: morestack saved g.sched there), where step has no frame record yet and its
// caller would be skipped by a frame-pointer walk.
TEST(GoroutineDump, AGoroutinePreemptedInAPrologueKeepsItsCaller) {
  expect_preempted_stacks_as_its_own({"prologue"}, "asyncpreemptoff=1",
                                     {{"main.step", "main.spinCalls"}});
}

// The spinners wait under runtime.asyncPreempt, interrupted where main.spin has no frame
// and where main.spinFramed's record is in place: the walk past the signal finds their
// callers as Go's does.
TEST(GoroutineDump, AGoroutinePreemptedByASignalKeepsItsCallers) {
  expect_preempted_stacks_as_its_own({}, "", {{"main.spin", "main.spinner"}, {"main.spinFramed"}});
}

TEST(GoroutineDump, PauseResumesTheTargetAndReportsHowLong) {
  auto fixtures = all_fixtures("quiescent");
  ASSERT_FALSE(fixtures.empty());
  const auto& f = fixtures.front();
  auto proc = LiveProcess::start({f.path});
  ASSERT_TRUE(proc) << proc.error().message;
  auto r = run_command(
      {testing::goscry_binary(), "dump", "--pause", "--pid", std::to_string((*proc)->pid())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("target paused for"), std::string::npos) << r.err;
  EXPECT_FALSE(stopped(process_state((*proc)->pid())));
  expect_same_goroutines(f.label(), oracle_traceback((*proc)->output()), r.out);
}

// A process has one tracer: with a debugger (here, this test) attached, --pause names it and
// changes nothing, and the target runs on once the debugger leaves.
TEST(GoroutineDump, PauseOfATracedTargetNamesItsTracer) {
  auto fixtures = all_fixtures("quiescent");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.front().path});
  ASSERT_TRUE(proc) << proc.error().message;
  const pid_t pid = (*proc)->pid();
  ASSERT_EQ(ptrace(PTRACE_SEIZE, pid, nullptr, nullptr), 0) << std::strerror(errno);
  auto r = run_command({testing::goscry_binary(), "dump", "--pause", "--pid", std::to_string(pid)});
  ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("already traced by pid " + std::to_string(getpid())), std::string::npos)
      << r.err;
  EXPECT_FALSE(stopped(process_state(pid)));
}

// A pprof profile of goroutines, as `go tool pprof -traces` prints it: one block per sample,
// the count then one function per line.
std::vector<std::pair<int, std::vector<std::string>>> pprof_traces(const std::string& path) {
  auto r = run_command({testing::go_command(), "tool", "pprof", "-traces", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::pair<int, std::vector<std::string>>> out;
  for (const auto& line : split_lines(r.out)) {
    if (line.starts_with("-----")) {
      out.push_back({0, {}});
      continue;
    }
    if (out.empty()) continue;
    auto first = line.find_first_not_of(' ');
    if (first == std::string::npos) continue;
    std::string rest = line.substr(first);
    if (out.back().second.empty() && out.back().first == 0 && std::isdigit(rest[0])) {
      auto sp = rest.find(' ');
      out.back().first = std::stoi(rest.substr(0, sp));
      rest = rest.substr(rest.find_first_not_of(' ', sp));
    }
    if (rest.ends_with(" (inline)")) rest.resize(rest.size() - 9);
    out.back().second.push_back(rest);
  }
  while (!out.empty() && out.back().first == 0) out.pop_back();
  return out;
}

TEST(GoroutineDump, PprofProfileOpensInGoToolPprofWithTheDumpsStacks) {
  auto fixtures = all_fixtures("quiescent");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    if (f.variant != "plain" && f.variant != "stripped") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    const std::string pid = std::to_string((*proc)->pid());
    const std::string pb = ::testing::TempDir() + "/goroutine.pb.gz";
    auto r = run_command({testing::goscry_binary(), "dump", "--pid", pid, "--format", "pprof",
                          "--debug", "0", "-o", pb});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto raw = run_command({testing::go_command(), "tool", "pprof", "-raw", pb});
    ASSERT_EQ(raw.exit_code, 0) << raw.err;
    EXPECT_NE(raw.out.find("goroutine/count"), std::string::npos) << raw.out;
    // Every goroutine the fixture parked appears as a sample whose stack holds its functions
    // (pprof keeps the runtime frames Go's traceback hides: compare the shown ones).
    auto traces = pprof_traces(pb);
    int total = 0;
    for (const auto& t : traces) total += t.first;
    auto oracle = parse_traceback(oracle_traceback((*proc)->output()));
    EXPECT_EQ(total, int(oracle.size())) << raw.out;
    for (const auto& [id, want] : oracle) {
      if (want.state == "running") continue;
      bool found = false;
      for (const auto& t : traces) {
        std::vector<std::string> shown;
        for (const auto& fn : t.second)
          if (fn.find('.') != std::string::npos &&
              (!fn.starts_with("runtime.") || std::isupper(static_cast<unsigned char>(fn[8]))))
            shown.push_back(fn);
        found |= shown == want.functions;
      }
      EXPECT_TRUE(found) << "goroutine " << id << " has no matching sample";
    }
    auto d1 = run_command({testing::goscry_binary(), "dump", "--pid", pid, "--format", "pprof",
                           "--debug", "1"});
    ASSERT_EQ(d1.exit_code, 0) << d1.err;
    EXPECT_TRUE(d1.out.starts_with("goroutine profile: total " + std::to_string(oracle.size())))
        << d1.out;
    EXPECT_NE(d1.out.find("\tmain.blockRecv+0x"), std::string::npos) << d1.out;
  }
}

TEST(GoroutineDump, TargetCreatingGoroutinesGivesAConsistentDumpAndIsNeverLeftStopped) {
  auto fixtures = all_fixtures("quiescent");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.front().path, "-churn"});
  ASSERT_TRUE(proc) << proc.error().message;
  const std::string pid = std::to_string((*proc)->pid());
  for (int i = 0; i < 10; ++i) {
    std::vector<std::string> argv = {testing::goscry_binary(), "dump", "--pid", pid};
    if (i % 2) argv.push_back("--pause");
    auto r = run_command(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto dump = parse_traceback(r.out);
    EXPECT_GE(dump.size(), 12u);
    for (const auto& [id, g] : dump) EXPECT_FALSE(g.state.empty()) << id;
    EXPECT_FALSE(stopped(process_state((*proc)->pid())));
  }
}

TEST(GoroutineDump, TargetThatExitsMidReadGivesAClearMessageNotACrash) {
  auto fixtures = all_fixtures("quiescent");
  ASSERT_FALSE(fixtures.empty());
  for (int i = 0; i < 5; ++i) {
    auto proc = LiveProcess::start({fixtures.front().path, "-churn"});
    ASSERT_TRUE(proc) << proc.error().message;
    const pid_t pid = (*proc)->pid();
    std::atomic<bool> started{false};
    std::thread killer([&] {
      while (!started) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::microseconds(200 * i));  // spread the kill
      (*proc)->kill();
    });
    started = true;
    auto r = run_command({testing::goscry_binary(), "dump", "--pid", std::to_string(pid)});
    killer.join();
    // 5: the target exited while goscry read it (README "Exit status").
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 5) << r.exit_code << " " << r.err;
    if (r.exit_code == 5) {
      EXPECT_TRUE(r.err.find("exited") != std::string::npos ||
                  r.err.find("no process") != std::string::npos)
          << r.err;
    }
  }
}

// Ctrl-C while the target is stopped: goscry dies of SIGINT, the target runs again.
TEST(GoroutineDump, CtrlCDuringPauseResumesTheTarget) {
  auto fixtures = all_fixtures("quiescent");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.back().path, "-n", "100000"}, "ready",
                                 std::chrono::seconds(120));
  ASSERT_TRUE(proc) << proc.error().message;
  const pid_t target = (*proc)->pid();
  const std::string pid_arg = std::to_string(target);
  const std::string bin = testing::goscry_binary();
  bool interrupted_while_stopped = false;
  for (int attempt = 0; attempt < 5 && !interrupted_while_stopped; ++attempt) {
    pid_t dumper = fork();
    if (dumper == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(bin.c_str(), bin.c_str(), "dump", "--pause", "--pid", pid_arg.c_str(), nullptr);
      _exit(127);
    }
    ASSERT_GT(dumper, 0);
    // Poll for the stop, then interrupt goscry in the middle of its read.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (stopped(process_state(target))) {
        kill(dumper, SIGINT);
        interrupted_while_stopped = true;
        break;
      }
      if (waitpid(dumper, &status, WNOHANG) == dumper) {
        dumper = -1;
        break;
      }
    }
    if (dumper > 0) waitpid(dumper, &status, 0);
    if (interrupted_while_stopped && WIFSIGNALED(status)) {
      EXPECT_EQ(WTERMSIG(status), SIGINT);
    }
    // The kernel detaches goscry's tracees as it dies; the state follows within microseconds.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (stopped(process_state(target)) && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    EXPECT_FALSE(stopped(process_state(target))) << "goscry left the target stopped";
  }
  EXPECT_TRUE(interrupted_while_stopped) << "never caught the target stopped to interrupt";
}

TEST(GoroutineDump, UnknownPidIsAClearError) {
  auto r = run_command({testing::goscry_binary(), "dump", "--pid", "999999999"});
  EXPECT_EQ(r.exit_code, 5);  // no target (README.md "Exit status")
  EXPECT_NE(r.err.find("no process with pid 999999999"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace goscry
