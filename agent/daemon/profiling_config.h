// The continuous profiler's keys of the agent's YAML config (docs/agent.md), kept apart
// from agent_config.cpp so that the profiler's settings live with the profiler.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "agent/daemon/agent_config.h"

namespace goscry {

// Above this rate the agent (and `goscry record`) warn: the target pays for every sample.
inline constexpr int kProfileHzWarn = 250;

// 0 (off) to 1000.
Result<void> check_profile_hz(int hz);

// profile_hz, pyroscope_url, pyroscope_interval, pyroscope_labels.
Result<void> apply_profiling_key(AgentConfig& c, const std::string& key, const YAML::Node& v);

}  // namespace goscry
