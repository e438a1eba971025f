#include "exporters/cardinality_cap.h"

#include <algorithm>
#include <cmath>
#include <set>
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

namespace {

LabelValues sanitized(const LabelValues& values) {
  LabelValues clean;
  clean.reserve(values.size() + 1);
  for (const auto& v : values) clean.push_back(to_valid_utf8(v));
  return clean;
}

bool has_prefix(const LabelValues& v, const LabelValues& prefix) {
  return v.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), v.begin());
}

}  // namespace

void CappedGaugeFamily::update(const LabelValues& group, std::vector<Ranked> values) {
  if (group.size() != group_size_)
    throw std::invalid_argument(family_.spec().name + ": wrong number of group label values");
  // Sanitize before ranking, so two byte strings that read the same once made valid UTF-8
  // are one site, summed, and not two writes to one series.
  for (auto& r : values) r.label = to_valid_utf8(r.label);
  TopN top = top_n(std::move(values), cap_);
  LabelValues key = sanitized(group);
  const LabelValues clean_group = key;
  key.push_back("");
  std::set<LabelValues> keep;
  auto put = [&](const std::string& label, double value) {
    key.back() = label;
    family_.with(key).set(value);
    keep.insert(key);
  };
  for (const auto& r : top.kept) put(r.label, r.value);
  if (top.folded > 0) put(std::string(kFoldedLabelValue), top.other);
  // Only this group's previous series can be stale: no scan of the whole family.
  std::lock_guard lock(mu_);
  std::set<LabelValues>& previous = series_by_group_[clean_group];
  for (const auto& old : previous)
    if (!keep.contains(old)) family_.remove(old);
  previous = std::move(keep);
  set_folded_locked(clean_group, top.folded);
}

void CappedGaugeFamily::remove(const LabelValues& group) {
  const LabelValues clean_group = sanitized(group);
  family_.remove_if([&](const LabelValues& v) { return has_prefix(v, clean_group); });
  std::lock_guard lock(mu_);
  series_by_group_.erase(clean_group);
  set_folded_locked(clean_group, 0);
}

void CappedGaugeFamily::set_folded_locked(const LabelValues& group, size_t folded) {
  size_t& slot = folded_by_group_[group];
  folded_total_ = folded_total_ - slot + folded;
  slot = folded;
  if (folded == 0) folded_by_group_.erase(group);
  folded_gauge_.set(static_cast<double>(folded_total_));
}

}  // namespace goscry::prometheus
