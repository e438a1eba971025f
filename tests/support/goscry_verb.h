// A goscry verb (`goscry top`, `goscry gc`) run by a test the way a user runs it: as its
// own process, watching a live fixture.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/child_process.h"
#include "agent/proc/privileges.h"
#include "tests/support/fixtures.h"

// Fails under CI=true, skips otherwise: a missing privilege must not pass silently in CI.
#define SKIP_OR_FAIL_WITHOUT_PRIVILEGES()                              \
  if (auto why = ::goscry::missing_privileges()) {                     \
    const char* ci = std::getenv("CI");                                \
    if (ci && std::string(ci) == "true") FAIL() << *why;               \
    GTEST_SKIP() << *why;                                              \
  }

namespace goscry::testing {

// Waits for a goscry verb's "watching pid ..." line on stderr: from then on its probes are
// in. The failure carries what goscry said instead, or that it said nothing in `timeout_ms`.
::testing::AssertionResult attached(ChildProcess& goscry, int timeout_ms = 60000);

// For each churn fixture build `pick` accepts, under a SCOPED_TRACE of its label: starts it,
// starts `goscry <verb> --pid <its pid> <flags...>`, and once that is attached calls
// body(build, fixture, goscry). A failed start or attach ends the loop as a failure.
void for_each_watched_churn(
    const std::function<bool(const Fixture&)>& pick, const std::string& verb,
    const std::vector<std::string>& flags,
    const std::function<void(const Fixture&, ChildProcess& fixture, ChildProcess& goscry)>& body);

}  // namespace goscry::testing
