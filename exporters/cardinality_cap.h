// The hard cap on label cardinality (docs/metrics.md "The cardinality cap"): a label whose
// values come from the target — a creation site, i.e. a Go function name — may only appear
// in a top-N metric. Per group (a target: pid, exe, ...) the N largest values keep their
// own series; all the others are summed into one series whose capped label is "other". So a
// family holds at most groups x (N + 1) series whatever the targets do.
//
// How many series were folded away is exported too, as the gauge
//   goscry_label_cap_folded_series{metric="<family>"}
// (summed over groups). It is a gauge, not a counter, on purpose: folding is redone on
// every update, so a running total would count the same site again on every refresh and
// grow without meaning; the gauge says how much is hidden right now.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "exporters/prometheus.h"

namespace goscry::prometheus {

inline constexpr std::string_view kFoldedLabelValue = "other";

struct Ranked {
  std::string label;
  double value = 0;
};

struct TopN {
  std::vector<Ranked> kept;  // at most n, largest first (ties by label, for a stable order)
  double other = 0;          // sum of the folded values
  size_t folded = 0;         // how many distinct labels were folded
};

// Pure selection: duplicate labels are summed first; a label that is literally "other"
// is always folded (it would collide with the fold series). NaN values rank last.
TopN top_n(std::vector<Ranked> values, size_t n);

class CappedGaugeFamily {
 public:
  // The family's labels are group_labels followed by capped_label. `cap` is the N above.
  CappedGaugeFamily(Registry& registry, std::string name, std::string help,
                    std::vector<std::string> group_labels, std::string capped_label,
                    size_t cap);

  // Replaces every series of `group` with the top `cap` of `values` (+ "other" when
  // anything was folded). Sites that dropped out of the top N lose their series.
  void update(const LabelValues& group, std::vector<Ranked> values);
  // Drops the group (a target that went away).
  void remove(const LabelValues& group);

  size_t cap() const { return cap_; }
  GaugeFamily& family() { return family_; }

 private:
  void set_folded(const LabelValues& group, size_t folded);

  GaugeFamily& family_;
  Gauge& folded_gauge_;
  size_t group_size_;
  size_t cap_;
  std::mutex mu_;
  std::map<LabelValues, size_t> folded_by_group_;
  size_t folded_total_ = 0;
};

}  // namespace goscry::prometheus
