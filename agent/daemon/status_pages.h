// What the agent's HTTP server shows of its targets besides /metrics: the JSON report of
// /api/v1/targets (kind "targets", docs/json-schemas.md) and the HTML index at "/".
#pragma once

#include "exporters/markup_escape.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/daemon/memory_budget.h"
#include "agent/daemon/targets.h"

namespace goscry {

struct PageLinks {
  std::string path;
  std::string what;
};

nlohmann::ordered_json targets_report(const std::vector<TargetView>& targets);
// `links`: every route worth a link (/metrics, /api/v1/targets, later /debug/pprof/...).
// `memory`: the agent's memory against its budget, once measured.
std::string index_html(const std::vector<TargetView>& targets,
                       const std::vector<PageLinks>& links,
                       const std::optional<MemoryView>& memory = std::nullopt);


}  // namespace goscry
