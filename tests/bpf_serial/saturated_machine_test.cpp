// BPF tests that take the whole machine on purpose, so CTest runs them alone (RUN_SERIAL):
// next to other tests they would make those late, and be made less loaded by them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "tests/support/cpu_hog.h"
#include "tests/support/goscry_verb.h"
#include "tests/support/top_reports.h"

namespace goscry {
namespace {

// `goscry top` attached to goroutines coming and going at full speed (the test of the same
// name in tests/bpf) with every CPU taken by busy loops (GOSCRY_TEST_CPU_HOG per CPU, 1 by
// default) and goscry at nice 19, as on a CI node at load 25 where goscry's own threads run
// late: the attach window must not depend on them. There, reading the window from the ring
// buffer lost 23,564 events and counted 14,269 goroutines for 1,461; here at nice 19 it lost
// 97,170 to 2,215,822 events in each of 9 attaches (busy loops alone were not enough on a
// 2-core host). The window is a BPF map now (docs/architecture.md, decision 3).
TEST(TopVerb, AttachedWhileGoroutinesComeAndGoAtFullSpeedOnASaturatedMachine) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  const char* per_cpu = std::getenv("GOSCRY_TEST_CPU_HOG");
  testing::CpuHog hog(per_cpu ? std::max(1, std::atoi(per_cpu)) : 1);
  ASSERT_GT(hog.size(), 0u);
  testing::attach_while_goroutines_come_and_go("saturated", 19);
}

}  // namespace
}  // namespace goscry
