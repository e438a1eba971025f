// `goscry top --format json` reports checked against the churn fixture's own counts
// (runtime.NumGoroutine and its per-site counters): the oracle of the top tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/child_process.h"
#include "tests/support/churn_state.h"

namespace goscry::testing {

// The fixture's next "state ..." line.
ChurnState next_state(ChildProcess& fixture);

// The entry of `sites` for the `go` statement in `function` ("main.spawnShort ...").
const nlohmann::json* site_of(const nlohmann::json& sites, const std::string& function);

// Checks one top report against the fixture's state: live = NumGoroutine, and per site
// live, created and exited since attach (`begin` is the state right after attach).
void expect_top_matches(const nlohmann::json& top, const ChurnState& st, const ChurnState& begin,
                        bool since_attach);

// The first top report sampled after `after_ns` (CLOCK_MONOTONIC; reports come every
// interval), or null when none came within two minutes.
nlohmann::json report_after(ChildProcess& top, std::int64_t after_ns);

// `goscry top` (at `goscry_nice`) attached to the plain churn fixtures of every toolchain
// while they create and end goroutines as fast as they can: some are born while the probes
// go in or the snapshot of allgs is read, some alive before end after, some the probes see
// born are read by the snapshot too. Every one must count once: at each quiescent point
// after, live = NumGoroutine and per site, and the ends between two points are what the
// fixture counted. Prints per phase the events lost and the count's error, labelled with
// `machine` (the figures of issue 14's note).
void attach_while_goroutines_come_and_go(const char* machine, int goscry_nice);

}  // namespace goscry::testing
