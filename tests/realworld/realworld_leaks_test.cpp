// `goscry leaks` on the three servers of the suite at once, each under its load for 120 s
// (the suite pays the watch once): none of them leaks, by their own design, so any suspect
// is goscry's mistake. The loads are paced (a step every 50 ms each) so that three servers
// and three watches share the machine with the rest of the suite.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/goscry_verb.h"
#include "tests/support/realworld_checks.h"
#include "tests/support/realworld_server.h"

namespace goscry {
namespace {

TEST(RealworldLeaks, NoSuspectsOnAnyServerOver120sOfLoad) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  START_SUITE_SERVER(prometheus, testing::start_prometheus);
  START_SUITE_SERVER(nats, testing::start_nats);
  START_SUITE_SERVER(vm, testing::start_victoria_metrics);
  testing::expect_no_leaks_under_load({prometheus.get(), nats.get(), vm.get()},
                                      std::chrono::seconds(120), std::chrono::milliseconds(50));
}

}  // namespace
}  // namespace goscry
