// The continuous profiler's keys of the agent's YAML config (docs/agent.md), kept apart
// from agent_config.cpp so that the profiler's settings live with the profiler.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "symbolizer/error.h"

namespace YAML {
class Node;
}

namespace goscry {

// The profiler's part of the agent's settings (AgentConfig derives from it). A struct of its
// own so that this file needs nothing of agent_config.h, which includes it: the arrow points
// one way.
struct ProfilingConfig {
  // Continuous CPU profiling (agent/daemon/cpu_profiler.h): samples per second per CPU, 0 = off.
  int profile_hz = 19;
  std::string pyroscope_url;  // base URL of a Pyroscope-compatible server; empty: no push
  std::chrono::milliseconds pyroscope_interval{15000};
  std::map<std::string, std::string> pyroscope_labels;  // added to every pushed profile
};

// Above this rate the agent (and `goscry record`) warn: the target pays for every sample.
inline constexpr int kProfileHzWarn = 250;

// 0 (off) to 1000.
Result<void> check_profile_hz(int hz);

// profile_hz, pyroscope_url, pyroscope_interval, pyroscope_labels.
Result<void> apply_profiling_key(ProfilingConfig& c, const std::string& key,
                                 const YAML::Node& v);

}  // namespace goscry
