// Which targets the agent traces (docs/agent.md "Goroutine tiers"): the `trace:` selectors
// as the config file gives them, matched against targets as discovery describes them.
#include <gtest/gtest.h>

#include "agent/daemon/agent_config.h"
#include "agent/daemon/goroutine_tier.h"

namespace goscry {
namespace {

TargetInfo target(pid_t pid, std::string exe) { return TargetInfo{pid, 1, std::move(exe), "go1.26.8"}; }

TEST(GoroutineTier, TraceSelectorsPickTargetsByExeGlobAndPid) {
  auto c = parse_agent_config(
      "all: true\ntrace:\n  - exe: 'payments-*'\n  - exe: /opt/api/bin/*\n  - pid: 4242\n"
      "  - {exe: worker, pid: 17}\n");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->trace.size(), 4u);
  EXPECT_EQ(c->trace[0].exe, "payments-*");
  EXPECT_EQ(c->trace[2].pid, 4242);  // the same selectors as include/exclude
  using enum GoroutineTier;
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(1, "/usr/bin/payments-eu")), kTrace);  // base name
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(2, "/opt/api/bin/server")), kTrace);   // whole path
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(3, "/srv/opt/api/bin/server")), kWatch);
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(4242, "/usr/bin/anything")), kTrace);
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(17, "/usr/bin/worker")), kTrace);
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(18, "/usr/bin/worker")), kWatch);  // both must match
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(17, "/usr/bin/other")), kWatch);
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(5, "/usr/bin/kubelet")), kWatch);
}

TEST(GoroutineTier, NamedPidsAreTracedAndEverythingElseWatched) {
  auto c = parse_agent_config("targets: [99]\nall: true\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(99, "/usr/bin/x")), GoroutineTier::kTrace);
  EXPECT_EQ(goroutine_tier(c->targets, c->trace, target(100, "/usr/bin/x")), GoroutineTier::kWatch);
}

TEST(GoroutineTier, BadSelectorsAreRejectedByName) {
  EXPECT_EQ(parse_agent_config("trace: x\n").error().message,
            "trace: must be a list of selectors");
  EXPECT_EQ(parse_agent_config("trace: [{}]\n").error().message,
            "trace[0]: must be a mapping of at least one field");
  EXPECT_EQ(parse_agent_config("trace: [{colour: a}]\n").error().message,
            "trace[0]: unknown field \"colour\" (want exe, container_id, namespace, pod, "
            "go_version, pid)");
  EXPECT_EQ(parse_agent_config("trace: [{pid: 0}]\n").error().message,
            "trace[0].pid: must be between 1 and 4194304");
  EXPECT_EQ(parse_agent_config("trace: [{exe: ''}]\n").error().message,
            "trace[0].exe: must be a glob of 1 to 4096 characters");
}

}  // namespace
}  // namespace goscry
