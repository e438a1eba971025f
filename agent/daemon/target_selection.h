// Which of the host's Go processes `--all` tracks on a shared node (docs/agent.md,
// "Target selection"): `include` and `exclude` lists of selectors, and a cap per
// Kubernetes namespace so one team's hundred replicas cannot take every slot of
// max_targets. The same selectors pick the targets to trace (`trace`, docs/agent.md
// "Goroutine tiers"). A selector matches a target when every field it gives matches (shell
// globs, fnmatch(3) without flags: `*` crosses `/`; `exe` is matched against the base name
// when it holds no `/`, against the whole path otherwise); a target is selected when no exclude selector
// matches and, if there is any include selector, one of them does. Pids listed in
// `targets` / --pid are always tracked: someone named them.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <sys/types.h>
#include <string>
#include <vector>

#include "agent/daemon/target_source.h"
#include "symbolizer/error.h"

namespace goscry {

struct TargetSelector {
  std::optional<std::string> exe{};  // glob on TargetInfo::exe, or on its base name
  std::optional<std::string> container_id{};  // glob on the 64-hex id
  std::optional<std::string> kube_namespace{};
  std::optional<std::string> pod{};
  std::optional<std::string> go_version{};  // glob on "go1.26.8"
  std::optional<pid_t> pid{};  // exactly this process
};

struct TargetSelection {
  std::vector<TargetSelector> include;  // empty: every target
  std::vector<TargetSelector> exclude;
  // Live targets at most per non-empty Kubernetes namespace; 0: no cap but max_targets.
  std::size_t max_targets_per_namespace = 0;
};

bool selector_matches(const TargetSelector& s, const TargetInfo& t);
bool selected(const TargetSelection& s, const TargetInfo& t);

// A YAML list of selector mappings, for the config key `key` ("include", "exclude",
// "trace"). Errors
// name the key and the entry: "include[1]: unknown field \"pods\"".
Result<std::vector<TargetSelector>> parse_selectors(const YAML::Node& n, const std::string& key);

}  // namespace goscry
