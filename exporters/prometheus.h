// A small Prometheus registry: counters, gauges and histograms with explicit buckets,
// grouped in families that share a name, a HELP text and label names; rendered in the text
// exposition format 0.0.4 (prometheus_text.h).
//
// Threading: registration, with(), remove() and render() may run on different threads.
// A Counter&/Gauge&/Histogram& returned by with() stays valid until that series is
// removed (remove/remove_if/clear) — the caller that removes series owns that lifetime.
//
// Errors: metric and label NAMES are ours, so a bad one is a programming error and throws
// std::invalid_argument at registration. Label VALUES and sample values come from targets
// and never throw: invalid UTF-8 is replaced, anything else is escaped.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "exporters/prometheus_text.h"

namespace goscry::prometheus {

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  // Negative or NaN increments are ignored: a counter only goes up.
  void inc(double by = 1);
  // For mirroring a total kept elsewhere (a BPF map, /proc): the caller vouches that it is
  // monotonic.
  void set(double total) { value_.store(total, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  void dec(double by = 1) { value_.fetch_sub(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `upper_bounds`: finite, strictly increasing; the +Inf bucket is implicit. Owned by the
  // family, which outlives the series.
  explicit Histogram(const std::vector<double>* upper_bounds);
  void observe(double v);
  // Adds `count` observations whose values sum to `sum`, all <= upper_bounds[bucket] (or in
  // the +Inf bucket when bucket == upper_bounds.size()): for importing histograms that
  // were bucketed elsewhere (in BPF).
  void add_to_bucket(size_t bucket, std::uint64_t count, double sum);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double>& bounds_;
  mutable std::mutex mu_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
};

struct FamilySpec {
  std::string name;
  std::string help;
  MetricType type;
  std::vector<std::string> label_names;
  std::vector<double> buckets;  // histograms only
  bool operator==(const FamilySpec&) const = default;
};

class FamilyBase {
 public:
  explicit FamilyBase(FamilySpec spec);
  virtual ~FamilyBase() = default;
  const FamilySpec& spec() const { return spec_; }
  // Appends HELP, TYPE and every series; nothing for a family without series.
  virtual void render(std::string& out) const = 0;
  virtual size_t size() const = 0;

 protected:
  // Checks the arity and makes the values valid UTF-8: the key under which a series lives.
  LabelValues key_of(const LabelValues& values) const;
  // `pid="1",site="main.(*T).M"` — rendered once per series, reused by every scrape.
  std::string render_pairs(const LabelValues& key) const;
  void append_header(std::string& out) const;

  FamilySpec spec_;
  std::string header_;  // "# HELP ...\n# TYPE ...\n"
};

template <typename M>
class Family : public FamilyBase {
 public:
  explicit Family(FamilySpec spec);
  // The series with these label values (in label_names order), created on first use.
  // Throws std::invalid_argument when the number of values is wrong.
  M& with(const LabelValues& values);
  void remove(const LabelValues& values);
  // Removes every series whose (sanitized) label values match; returns how many.
  size_t remove_if(const std::function<bool(const LabelValues&)>& match);
  void clear();
  // Gauges: makes the series whose label values start with `prefix` exactly `series`
  // (full label values, value) in one step under the family lock, so a concurrent render
  // sees the group before or after, never half of each. For top-N groups.
  void replace_prefix(const LabelValues& prefix,
                      const std::vector<std::pair<LabelValues, double>>& series)
    requires std::is_same_v<M, Gauge>;
  size_t size() const override;
  void render(std::string& out) const override;

 private:
  struct Series {
    std::string pairs;
    std::unique_ptr<M> metric;
  };
  std::unique_ptr<M> make() const;
  void render_series(std::string& out, const Series& s) const;

  mutable std::mutex mu_;
  std::map<LabelValues, Series> series_;  // sorted: a stable order between scrapes
  std::vector<std::string> le_;           // histograms: the rendered upper bounds, then +Inf
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  // Registering the same name twice with the same spec returns the same family; with a
  // different spec it throws. Families without labels get their one series at once, so
  // they are exported (as 0) before their first update.
  CounterFamily& counter(std::string name, std::string help, std::vector<std::string> labels = {});
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  HistogramFamily& histogram(std::string name, std::string help, std::vector<std::string> labels,
                             std::vector<double> upper_bounds);

  // Runs before every render, e.g. to read /proc/self into gauges.
  void add_collector(std::function<void()> collect);

  // One contiguous group per family, families sorted by name, series by label values.
  std::string render() const;
  void render(std::string& out) const;
  // Number of series (a histogram series counts once) — for the cardinality budget.
  size_t series_count() const;

 private:
  FamilyBase& add(FamilySpec spec);

  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_;
  std::vector<std::function<void()>> collectors_;
  mutable std::atomic<size_t> last_size_{0};
};

}  // namespace goscry::prometheus
