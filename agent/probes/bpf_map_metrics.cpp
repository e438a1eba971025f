#include "agent/probes/bpf_map_metrics.h"

namespace goscry {

BpfMapMetrics::BpfMapMetrics(prometheus::Registry& registry)
    : entries_(registry.gauge("goscry_bpf_map_entries",
                              "Entries in a BPF map of the agent, counted every 10 s (hash-like "
                              "and stack trace maps only).",
                              {"object", "map"})),
      capacity_(registry.gauge("goscry_bpf_map_capacity",
                               "Entries a BPF map of the agent can hold (max_entries).",
                               {"object", "map"})) {}

// replace_prefix: the object's maps as one group, so a sampler closed by a reload
// (profile_hz: 0) loses its series instead of keeping its last counts.
void BpfMapMetrics::publish(const std::string& object, const std::vector<MapOccupancy>& maps) {
  std::vector<std::pair<prometheus::LabelValues, double>> entries, capacity;
  for (const auto& m : maps) {
    entries.push_back({{object, m.name}, double(m.entries)});
    capacity.push_back({{object, m.name}, double(m.capacity)});
  }
  entries_.replace_prefix({object}, entries);
  capacity_.replace_prefix({object}, capacity);
}

}  // namespace goscry
