// missing_privileges() names exactly the capabilities a process lacks. A forked child
// drops capabilities from its effective set for real and reports what it sees.
#include "agent/proc/privileges.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/child.h"

namespace goscry {
namespace {

// Runs missing_privileges() in a child whose effective set lacks `drop`; "" means nullopt.
std::string missing_without(const std::vector<int>& drop) {
  return testing::in_child([&] {
    if (!testing::drop_effective_capabilities(drop)) return std::string("capset failed");
    auto m = missing_privileges();
    return m ? *m : std::string();
  });
}

TEST(Privileges, NamesEachMissingCapability) {
  if (missing_privileges()) GTEST_SKIP() << "needs a process holding every capability (root)";
  EXPECT_EQ(missing_without({}), "");
  // CAP_SYS_ADMIN (21) stands in for CAP_BPF (39) and CAP_PERFMON (38).
  EXPECT_EQ(missing_without({39}), "");
  EXPECT_EQ(missing_without({21, 39}),
            "goscry needs CAP_BPF to probe Go processes (run it as root or grant the "
            "capabilities)");
  EXPECT_EQ(missing_without({21, 38, 39, 19}),
            "goscry needs CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE to probe Go processes (run it "
            "as root or grant the capabilities)");
}

}  // namespace
}  // namespace goscry
