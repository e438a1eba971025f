// goscry_bpf_map_entries and goscry_bpf_map_capacity: how full each BPF map of the agent
// is, by object (runtime: the goroutine/GC probes; cpu: the CPU sampler) and map name.
// Both owners of BPF objects (BpfTargetSource, CpuProfiler) publish through here, so the
// families are registered once with one spec.
#pragma once

#include <string>
#include <vector>

#include "agent/probes/bpf_loader.h"
#include "exporters/prometheus.h"

namespace goscry {

class BpfMapMetrics {
 public:
  explicit BpfMapMetrics(prometheus::Registry& registry);
  // Makes the series of `object` exactly its maps' last counts.
  void publish(const std::string& object, const std::vector<MapOccupancy>& maps);

 private:
  prometheus::GaugeFamily& entries_;
  prometheus::GaugeFamily& capacity_;
};

}  // namespace goscry
