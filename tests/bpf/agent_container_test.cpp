// The agent's container labels on a real containerised process, made the way a container
// runtime makes one, without a runtime: a Go fixture in its own mount namespace whose /run
// holds a Kubernetes service-account namespace file that exists only there, started with
// HOSTNAME=<pod name>, in a fresh cgroup v2 directory named like a containerd scope. The
// oracles are what the test set up; a second fixture on the host must get empty labels.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/container_scope.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(AgentContainer, LabelsAContainerisedTargetWithItsContainerPodAndNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: namespaces, cgroups and BPF";
  const fs::path cgroot = cgroup2_mount();
  ASSERT_FALSE(cgroot.empty()) << "no cgroup2 mount in /proc/self/mounts";
  ASSERT_FALSE(fs::exists(kNamespaceFile))
      << "the host has " << kNamespaceFile << ": the test needs it not to";

  const std::string id = random_container_id();
  const std::string pod = "api-7d9f8b6c5-x2kqz";
  const std::string ns = "team-payments";
  ScopeCgroup cgroup(cgroot, id);
  auto inside = start_in_container(cgroup, ns, pod, hello_fixture());
  ASSERT_TRUE(inside) << inside.error().message;
  HeldProcess outside({hello_fixture(), "wait"});
  const std::string in_pid = std::to_string((*inside)->pid());
  const std::string out_pid = std::to_string(outside.pid());

  AgentProcess agent({"--pid", in_pid, "--pid", out_pid, "--profile-hz", "0", "--no-leaks"});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  std::string body;
  // The BPF figures as well: every per-target family carries the labels.
  ASSERT_TRUE(poll_until([&] {
    body = http_get(agent.url("/metrics")).body;
    return !series_line(body, "goscry_goroutines", in_pid).empty() &&
           !series_line(body, "goscry_target_info", out_pid).empty();
  }, 20s)) << agent.log() << body;

  // The target's labels, then the family's own (goscry_gc_cycles_total's trigger) if any.
  const std::string labels =
      "\",container_id=\"" + id + "\",pod=\"" + pod + "\",namespace=\"" + ns + "\"";
  for (const char* family : {"goscry_target_info", "goscry_goroutines", "goscry_gc_cycles_total"})
    EXPECT_NE(series_line(body, family, in_pid).find(labels), std::string::npos)
        << family << ": want " << labels << " in\n" << body;
  EXPECT_NE(series_line(body, "goscry_target_info", out_pid)
                .find("\",container_id=\"\",pod=\"\",namespace=\"\"} 1"),
            std::string::npos)
      << body;
  auto check = run_command({"promtool", "check", "metrics"}, body);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << body;

  auto targets = nlohmann::json::parse(http_get(agent.url("/api/v1/targets")).body);
  bool seen = false;
  for (const auto& t : targets["targets"]) {
    if (std::to_string(t["pid"].get<int>()) != in_pid) continue;
    seen = true;
    EXPECT_EQ(t["container_id"], id);
    EXPECT_EQ(t["pod"], pod);
    EXPECT_EQ(t["namespace"], ns);
  }
  EXPECT_TRUE(seen) << targets.dump();
  const std::string index = http_get(agent.url("/")).body;
  EXPECT_NE(index.find("<td>" + ns + "/" + pod + "</td>"), std::string::npos) << index;
  EXPECT_NE(index.find("<td>host</td>"), std::string::npos) << index;
  // One settings entry per target the probes watch: the map count's own oracle.
  EXPECT_TRUE(poll_until([&] {
    return http_get(agent.url("/metrics"))
               .body.find("\ngoscry_bpf_map_entries{object=\"runtime\",map=\"settings\"} 2\n") !=
           std::string::npos;
  }, 15s)) << http_get(agent.url("/metrics")).body;
  (*inside)->kill();
}

}  // namespace
}  // namespace goscry::testing
