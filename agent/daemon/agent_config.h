// The agent's settings: defaults, then the YAML file of --config, then the command-line
// flags (a flag given on the command line wins over the file, also after a reload).
// docs/agent.md lists every key. Unknown keys are errors, so a typo never goes unnoticed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/base/log.h"
#include "agent/daemon/kube_pods.h"
#include "agent/daemon/profiling_config.h"
#include "agent/daemon/target_selection.h"
#include "symbolizer/error.h"

namespace goscry {

// 19464: outside 9100-9999 (Prometheus' exporter port list, used up), and no port a common
// service listens on by default.
inline constexpr const char* kDefaultListen = "127.0.0.1:19464";

// One entry of `trace:` (docs/agent.md "Goroutine tiers"): a target it matches gets the
// per-goroutine probes. Every field given must match; an entry gives at least one.
struct AgentConfig : ProfilingConfig {
  std::vector<pid_t> targets;
  bool all = false;
  std::string listen = kDefaultListen;
  // A second listener serving /healthz only, plain HTTP and without auth, for probes of a
  // kubelet that cannot present the data port's credentials; empty: none.
  std::string health_listen;
  std::string web_config_file;  // empty: plain HTTP, no auth
  size_t max_targets = 500;
  size_t site_cap = 50;
  std::chrono::milliseconds grace_period{30000};
  std::chrono::milliseconds scan_interval{2000};
  // The agent's memory budget (docs/agent.md "Memory budget"): 3/4 of a 256 MiB DaemonSet
  // limit, the rest left to the BPF maps and page cache charged to the same cgroup.
  size_t memory_budget_mib = 192;
  // The symbolizer's share: its decoded tables, and the binaries' pages it keeps resident.
  size_t symbol_cache_mib = 48;
  log::Level log_level = log::Level::kInfo;
  log::Format log_format = log::Format::kText;
  // Which Go processes --all tracks (include, exclude, max_targets_per_namespace).
  TargetSelection selection;
  // Pod names, namespaces, containers and labels from Kubernetes (kubernetes*, pod_labels).
  KubeSettings kube;
  // Targets traced (created/exited per site, two uprobe traps per goroutine) instead of
  // watched; the pids of `targets` / --pid are traced too.
  std::vector<TargetSelector> trace;
};

// What the command line set; empty means "not given", so the file (or default) applies.
struct ConfigFlags {
  std::vector<pid_t> pids;
  std::optional<bool> all;
  std::optional<std::string> listen;
  std::optional<std::string> health_listen;
  std::optional<std::string> web_config_file;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
  std::optional<int> profile_hz;
  std::string config_file;
};

// Parses YAML text over the defaults. Errors name the key: "config: grace_period: ...".
Result<AgentConfig> parse_agent_config(const std::string& yaml);

// Defaults, then flags.config_file when given, then the flags.
Result<AgentConfig> load_agent_config(const ConfigFlags& flags);

// "127.0.0.1:19464", "[::1]:19464", ":19464" -> host, port. Port 0 is allowed (any).
Result<std::pair<std::string, int>> parse_listen_address(const std::string& addr);

}  // namespace goscry
