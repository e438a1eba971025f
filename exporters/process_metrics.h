// The standard process_* metrics (the names client_golang and every exporter use) for the
// agent's own process.
#pragma once

#include <optional>

#include "exporters/prometheus.h"

namespace goscry::prometheus {

struct ProcessStats {
  std::optional<double> cpu_seconds;           // user + system
  std::optional<double> resident_memory_bytes;
  std::optional<double> virtual_memory_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;               // soft RLIMIT_NOFILE
  std::optional<double> start_time_seconds;    // since the Unix epoch
};

// Reads /proc/self. A field that cannot be read stays empty; this never fails.
ProcessStats read_process_stats();

// Registers process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds, refreshed on every render.
void register_process_metrics(Registry& registry);

}  // namespace goscry::prometheus
