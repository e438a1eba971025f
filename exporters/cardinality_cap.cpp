#include "exporters/cardinality_cap.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace goscry::prometheus {

TopN top_n(std::vector<Ranked> values, size_t n) {
  TopN result;
  std::unordered_map<std::string, size_t> index;
  std::vector<Ranked> merged;
  merged.reserve(values.size());
  for (auto& r : values) {
    auto [it, fresh] = index.try_emplace(r.label, merged.size());
    if (fresh)
      merged.push_back(std::move(r));
    else
      merged[it->second].value += r.value;
  }
  auto before = [](const Ranked& a, const Ranked& b) {
    bool an = std::isnan(a.value), bn = std::isnan(b.value);
    if (an != bn) return bn;
    if (!an && a.value != b.value) return a.value > b.value;
    return a.label < b.label;
  };
  std::sort(merged.begin(), merged.end(), before);
  for (auto& r : merged) {
    if (result.kept.size() < n && r.label != kFoldedLabelValue) {
      result.kept.push_back(std::move(r));
    } else {
      result.other += r.value;
      ++result.folded;
    }
  }
  return result;
}

namespace {

std::vector<std::string> with_label(std::vector<std::string> labels, std::string last) {
  labels.push_back(std::move(last));
  return labels;
}

}  // namespace

CappedGaugeFamily::CappedGaugeFamily(Registry& registry, std::string name, std::string help,
                                     std::vector<std::string> group_labels,
                                     std::string capped_label, size_t cap)
    : family_(registry.gauge(name, std::move(help),
                             with_label(group_labels, std::move(capped_label)))),
      folded_gauge_(registry
                        .gauge("goscry_label_cap_folded_series",
                               "Series folded into label value \"other\" by the cardinality "
                               "cap of a top-N metric, now.",
                               {"metric"})
                        .with({name})),
      group_size_(group_labels.size()),
      cap_(cap) {}

void CappedGaugeFamily::update(const LabelValues& group, std::vector<Ranked> values) {
  if (group.size() != group_size_)
    throw std::invalid_argument(family_.spec().name + ": wrong number of group label values");
  // Sanitize before ranking, so two byte strings that read the same once made valid UTF-8
  // are one site, summed, and not two writes to one series.
  for (auto& r : values) r.label = to_valid_utf8(r.label);
  TopN top = top_n(std::move(values), cap_);
  std::vector<std::pair<LabelValues, double>> series;
  series.reserve(top.kept.size() + 1);
  auto put = [&](std::string label, double value) {
    LabelValues key = group;
    key.push_back(std::move(label));
    series.emplace_back(std::move(key), value);
  };
  for (auto& r : top.kept) put(std::move(r.label), r.value);
  if (top.folded > 0) put(std::string(kFoldedLabelValue), top.other);
  // Sites that left the top N go in the same step as the new ones arrive.
  family_.replace_prefix(group, series);
  set_folded(group, top.folded);
}

void CappedGaugeFamily::remove(const LabelValues& group) {
  family_.replace_prefix(group, {});
  set_folded(group, 0);
}

void CappedGaugeFamily::set_folded(const LabelValues& group, size_t folded) {
  LabelValues key;
  for (const auto& g : group) key.push_back(to_valid_utf8(g));
  std::lock_guard lock(mu_);
  size_t& slot = folded_by_group_[key];
  folded_total_ = folded_total_ - slot + folded;
  slot = folded;
  if (folded == 0) folded_by_group_.erase(key);
  folded_gauge_.set(static_cast<double>(folded_total_));
}

}  // namespace goscry::prometheus
