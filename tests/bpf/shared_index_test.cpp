// One binary, one index: two processes of one binary, each opened by the agent's three
// consumers as the agent opens them (the BPF watch through TargetWatch on the agent's one
// loader, the leak detector through GoProcess and the goroutine reader, the CPU profiler
// through the CPU session's symbolizer), hold one GoBinary and one set of per-binary facts
// between them; a process of another binary holds its own (go_binary_facts.h). The oracle
// for "one binary" is the kernel's: /proc/PID/exe of both is one file (device, inode).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/cpu/cpu_session.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_reader.h"
#include "agent/probes/bpf_loader.h"
#include "agent/probes/target_watch.h"
#include "agent/proc/privileges.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/recording.h"

namespace goscry::testing {
namespace {

std::pair<dev_t, ino_t> exe_file(pid_t pid) {
  struct stat st {};
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  EXPECT_EQ(::stat(link.c_str(), &st), 0) << link;
  return {st.st_dev, st.st_ino};
}

// What each consumer holds of one target.
struct Opened {
  std::unique_ptr<TargetWatch> watch;   // the BPF watch (daemon/bpf_source)
  std::unique_ptr<GoProcess> leaks;     // the leak detector's handle (daemon/leak_source)
  std::unique_ptr<CpuSession> cpu;      // the CPU profile pipeline
  std::shared_ptr<const GoBinary> cpu_binary;  // the binary its symbolizer found
};

void open_all(pid_t pid, BpfLoader& loader, Opened& o) {
  auto watch = TargetWatch::open(pid, &loader);
  ASSERT_TRUE(watch) << watch.error().message;
  o.watch = std::move(*watch);
  auto leaks = GoProcess::open(pid);
  ASSERT_TRUE(leaks) << leaks.error().message;
  o.leaks = std::move(*leaks);
  // The leak detector's read: its goroutines come through the shared facts' layout.
  auto list = read_goroutines(*o.leaks, {.stacks = false});
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_FALSE(list->goroutines.empty());
  auto cpu = CpuSession::open({.pid = pid, .hz = 19});
  ASSERT_TRUE(cpu) << cpu.error().message;
  o.cpu = std::move(*cpu);
  auto module = o.cpu->symbolizer()->module(o.leaks->exe());
  ASSERT_TRUE(module) << module.error().message;
  o.cpu_binary = module->payload->go;
}

TEST(SharedIndex, TwoTargetsOfOneBinaryShareOneIndexAcrossWatchLeaksAndCpu) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  // PIE: the two processes have their own load bias over one index.
  auto pie = newest_fixture("cpuburn", "pie");
  auto plain = newest_fixture("cpuburn", "plain");
  ASSERT_TRUE(pie && plain) << "no cpuburn fixture built";
  auto a = LiveProcess::start({pie->path, "idle"});
  auto b = LiveProcess::start({pie->path, "idle"});
  auto other = LiveProcess::start({plain->path, "idle"});
  ASSERT_TRUE(a && b && other);
  ASSERT_EQ(exe_file((*a)->pid()), exe_file((*b)->pid()));
  ASSERT_NE(exe_file((*a)->pid()), exe_file((*other)->pid()));
  auto loader = BpfLoader::open();
  ASSERT_TRUE(loader) << loader.error().message;

  Opened oa, ob, oo;
  open_all((*a)->pid(), **loader, oa);
  open_all((*b)->pid(), **loader, ob);
  open_all((*other)->pid(), **loader, oo);
  if (HasFatalFailure()) return;

  // One index: every consumer of both targets holds the same GoBinary object.
  const GoBinary* index = &oa.leaks->binary();
  for (const Opened* o : {&oa, &ob}) {
    EXPECT_EQ(&o->watch->process().binary(), index);
    EXPECT_EQ(&o->leaks->binary(), index);
    EXPECT_EQ(o->cpu_binary.get(), index);
  }
  // And one set of per-binary facts (layout, allgs, goexit), computed once.
  EXPECT_EQ(oa.watch->process().facts(), oa.leaks->facts());
  EXPECT_EQ(ob.watch->process().facts(), oa.leaks->facts());
  EXPECT_EQ(ob.leaks->facts(), oa.leaks->facts());
  // Each process keeps its own bias, the one its own maps give (the watch's and the
  // detector's handles of one process agree).
  EXPECT_EQ(oa.watch->process().bias(), oa.leaks->bias());
  EXPECT_EQ(ob.watch->process().bias(), ob.leaks->bias());
  // Another binary is another index, not one global object.
  EXPECT_NE(&oo.leaks->binary(), index);
  EXPECT_EQ(&oo.watch->process().binary(), &oo.leaks->binary());
  EXPECT_EQ(oo.cpu_binary.get(), &oo.leaks->binary());
  EXPECT_NE(oo.leaks->facts(), oa.leaks->facts());
}

}  // namespace
}  // namespace goscry::testing
