// Target selection under --all on a shared node: include/exclude by executable glob and
// Kubernetes namespace, a per-namespace cap, and a SIGHUP that changes the set. The
// processes are the test's own: two containerised fixtures in one namespace (the container
// test's setup), the plain fixture on the host, and a copy of it under a directory of the
// test's; the oracle is which of their pids the agent lists. Only the /proc source runs
// (--no-bpf): --all must not attach probes to the other processes of a shared machine.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/support/container_scope.h"
#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Which of `ours` the agent tracks now.
std::set<pid_t> tracked_of(const AgentProcess& agent, const std::set<pid_t>& ours) {
  std::set<pid_t> pids;
  auto j = nlohmann::json::parse(http_get(agent.url("/api/v1/targets")).body, nullptr, false);
  if (j.is_object())
    for (const auto& t : j["targets"])
      if (ours.contains(t["pid"].get<pid_t>())) pids.insert(t["pid"].get<pid_t>());
  return pids;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p.string() + ".new") << text;
  fs::rename(p.string() + ".new", p);
}

TEST(AgentSelection, IncludesAndExcludesByExeAndNamespaceCapsANamespaceAndReloads) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: namespaces and cgroups";
  const fs::path cgroot = cgroup2_mount();
  ASSERT_FALSE(cgroot.empty()) << "no cgroup2 mount in /proc/self/mounts";
  const fs::path dir = fs::temp_directory_path() / ("goscry-select-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path copy = dir / "other-hello";
  fs::copy_file(hello_fixture(), copy, fs::copy_options::overwrite_existing);

  const std::string ns = "sel-" + std::to_string(getpid());
  ScopeCgroup scope1(cgroot, random_container_id()), scope2(cgroot, random_container_id());
  auto in1 = start_in_container(scope1, ns, "api-1", hello_fixture());
  ASSERT_TRUE(in1) << in1.error().message;
  auto in2 = start_in_container(scope2, ns, "api-2", hello_fixture());
  ASSERT_TRUE(in2) << in2.error().message;
  HeldProcess host({hello_fixture(), "wait"});
  HeldProcess copied({copy.string(), "wait"});
  const pid_t a1 = (*in1)->pid(), a2 = (*in2)->pid();
  const std::set<pid_t> ours = {a1, a2, host.pid(), copied.pid()};

  // The namespace (capped at one target) and the copy's directory.
  const fs::path config = dir / "agent.yml";
  write_file(config, "all: true\nscan_interval: 100ms\nmax_targets_per_namespace: 1\n"
                     "include:\n  - {namespace: '" + ns + "'}\n  - {exe: '" + dir.string() +
                         "/*'}\n");
  AgentProcess agent({"--no-bpf", "--no-leaks", "--profile-hz", "0", "--config", config.string()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  std::set<pid_t> now;
  ASSERT_TRUE(poll_until([&] {
    now = tracked_of(agent, ours);
    return now.size() == 2 && now.contains(copied.pid());
  }, 30s)) << agent.log();
  EXPECT_TRUE(now.contains(a1) != now.contains(a2)) << "one of the namespace's two, not both";
  EXPECT_FALSE(now.contains(host.pid()));
  std::string body = http_get(agent.url("/metrics")).body;
  EXPECT_NE(body.find("\ngoscry_targets_over_namespace_cap_total 1\n"), std::string::npos)
      << body;

  // Reloaded: the plain fixture by its path, the namespace excluded (both of its targets
  // go at once), the copy by its directory still.
  write_file(config, "all: true\nscan_interval: 100ms\ninclude:\n  - {exe: '" + hello_fixture() +
                         "'}\n  - {exe: '" + dir.string() + "/*'}\nexclude:\n  - {namespace: '" +
                         ns + "'}\n");
  agent.signal(SIGHUP);
  ASSERT_TRUE(poll_until([&] {
    return tracked_of(agent, ours) == std::set<pid_t>{host.pid(), copied.pid()};
  }, 30s)) << agent.log();
  EXPECT_NE(agent.log().find("target no longer selected"), std::string::npos) << agent.log();

  // A bad file is refused: logged, counted, the running selection kept.
  write_file(config, "all: true\ninclude: [{exe: '/x', podname: y}]\n");
  agent.signal(SIGHUP);
  ASSERT_TRUE(poll_until([&] {
    return http_get(agent.url("/metrics"))
               .body.find("\ngoscry_config_reload_failures_total 1\n") != std::string::npos;
  }, 20s)) << agent.log();
  EXPECT_NE(agent.log().find("include[0]: unknown field \\\"podname\\\""), std::string::npos)
      << agent.log();
  EXPECT_EQ(tracked_of(agent, ours), (std::set<pid_t>{host.pid(), copied.pid()}));
  (*in1)->kill();
  (*in2)->kill();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace goscry::testing
