#include "exporters/prometheus.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace goscry::prometheus {

void Counter::inc(double by) {
  if (!(by > 0)) return;  // also drops NaN
  value_.fetch_add(by, std::memory_order_relaxed);
}

Histogram::Histogram(const std::vector<double>* upper_bounds)
    : bounds_(*upper_bounds), counts_(upper_bounds->size() + 1, 0) {}

void Histogram::observe(double v) {
  // Buckets are few (tens); a linear scan beats a binary search at that size. NaN lands
  // in +Inf, as in client_golang.
  size_t i = 0;
  while (i < bounds_.size() && !(v <= bounds_[i])) ++i;
  std::lock_guard lock(mu_);
  ++counts_[i];
  sum_ += v;
}

void Histogram::add_to_bucket(size_t bucket, std::uint64_t count, double sum) {
  if (bucket > bounds_.size()) bucket = bounds_.size();
  std::lock_guard lock(mu_);
  counts_[bucket] += count;
  sum_ += sum;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(counts_.size());
  std::lock_guard lock(mu_);
  std::uint64_t running = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    running += counts_[i];
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_;
  return s;
}

FamilyBase::FamilyBase(FamilySpec spec) : spec_(std::move(spec)) {
  header_ = "# HELP " + spec_.name + " ";
  append_escaped_help(header_, to_valid_utf8(spec_.help));
  header_ += "\n# TYPE " + spec_.name + " ";
  header_ += type_name(spec_.type);
  header_ += '\n';
}

LabelValues FamilyBase::key_of(const LabelValues& values) const {
  if (values.size() != spec_.label_names.size())
    throw std::invalid_argument(spec_.name + ": expected " +
                                std::to_string(spec_.label_names.size()) + " label values, got " +
                                std::to_string(values.size()));
  LabelValues key;
  key.reserve(values.size());
  for (const auto& v : values) key.push_back(to_valid_utf8(v));
  return key;
}

std::string FamilyBase::render_pairs(const LabelValues& key) const {
  std::string pairs;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) pairs += ',';
    pairs += spec_.label_names[i];
    pairs += "=\"";
    append_escaped_label_value(pairs, key[i]);
    pairs += '"';
  }
  return pairs;
}

void FamilyBase::append_header(std::string& out) const { out += header_; }

template <typename M>
Family<M>::Family(FamilySpec spec) : FamilyBase(std::move(spec)) {
  if constexpr (std::is_same_v<M, Histogram>) {
    for (double b : spec_.buckets) le_.push_back(format_value(b));
    le_.push_back("+Inf");
  }
}

template <typename M>
std::unique_ptr<M> Family<M>::make() const {
  if constexpr (std::is_same_v<M, Histogram>)
    return std::make_unique<Histogram>(&spec_.buckets);
  else
    return std::make_unique<M>();
}

template <typename M>
M& Family<M>::with(const LabelValues& values) {
  LabelValues key = key_of(values);
  std::lock_guard lock(mu_);
  auto it = series_.find(key);
  if (it == series_.end()) {
    Series s{render_pairs(key), make()};
    it = series_.emplace(std::move(key), std::move(s)).first;
  }
  return *it->second.metric;
}

template <typename M>
void Family<M>::remove(const LabelValues& values) {
  LabelValues key = key_of(values);
  std::lock_guard lock(mu_);
  series_.erase(key);
}

template <typename M>
size_t Family<M>::remove_if(const std::function<bool(const LabelValues&)>& match) {
  std::lock_guard lock(mu_);
  return std::erase_if(series_, [&](const auto& kv) { return match(kv.first); });
}

template <typename M>
void Family<M>::replace_prefix(const LabelValues& prefix,
                               const std::vector<std::pair<LabelValues, double>>& series)
  requires std::is_same_v<M, Gauge>
{
  LabelValues clean_prefix;
  for (const auto& v : prefix) clean_prefix.push_back(to_valid_utf8(v));
  std::map<LabelValues, double> wanted;
  for (const auto& [values, value] : series) wanted[key_of(values)] = value;
  auto under_prefix = [&](const LabelValues& key) {
    return key.size() >= clean_prefix.size() &&
           std::equal(clean_prefix.begin(), clean_prefix.end(), key.begin());
  };
  std::lock_guard lock(mu_);
  // Keys sort as vectors, so the series under a prefix are one contiguous range.
  for (auto it = series_.lower_bound(clean_prefix); it != series_.end() && under_prefix(it->first);)
    it = wanted.contains(it->first) ? std::next(it) : series_.erase(it);
  for (auto& [key, value] : wanted) {
    auto it = series_.find(key);
    if (it == series_.end()) {
      Series s{render_pairs(key), make()};
      it = series_.emplace(key, std::move(s)).first;
    }
    it->second.metric->set(value);
  }
}

template <typename M>
void Family<M>::clear() {
  std::lock_guard lock(mu_);
  series_.clear();
}

template <typename M>
size_t Family<M>::size() const {
  std::lock_guard lock(mu_);
  return series_.size();
}

namespace {

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   std::string_view pairs, double value) {
  out += name;
  out += suffix;
  if (!pairs.empty()) {
    out += '{';
    out += pairs;
    out += '}';
  }
  out += ' ';
  append_value(out, value);
  out += '\n';
}

}  // namespace

template <typename M>
void Family<M>::render_series(std::string& out, const Series& s) const {
  const std::string& name = spec_.name;
  if constexpr (std::is_same_v<M, Histogram>) {
    Histogram::Snapshot snap = s.metric->snapshot();
    for (size_t i = 0; i < le_.size(); ++i) {
      out += name;
      out += "_bucket{";
      if (!s.pairs.empty()) {
        out += s.pairs;
        out += ',';
      }
      out += "le=\"";
      out += le_[i];
      out += "\"} ";
      append_value(out, static_cast<double>(snap.cumulative[i]));
      out += '\n';
    }
    append_sample(out, name, "_sum", s.pairs, snap.sum);
    append_sample(out, name, "_count", s.pairs, static_cast<double>(snap.count));
  } else {
    append_sample(out, name, "", s.pairs, s.metric->value());
  }
}

template <typename M>
void Family<M>::render(std::string& out) const {
  std::lock_guard lock(mu_);
  if (series_.empty()) return;
  append_header(out);
  for (const auto& [key, s] : series_) render_series(out, s);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

namespace {

void check_spec(const FamilySpec& spec) {
  auto problems = naming_problems(spec.name, spec.type, spec.label_names);
  if (spec.type == MetricType::kHistogram) {
    for (size_t i = 0; i < spec.buckets.size(); ++i) {
      if (!std::isfinite(spec.buckets[i]))
        problems.push_back(spec.name + ": bucket bounds are finite (+Inf is implicit)");
      else if (i > 0 && !(spec.buckets[i] > spec.buckets[i - 1]))
        problems.push_back(spec.name + ": bucket bounds must increase strictly");
    }
  }
  if (problems.empty()) return;
  std::string message;
  for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
  throw std::invalid_argument(message);
}

}  // namespace

FamilyBase& Registry::add(FamilySpec spec) {
  check_spec(spec);
  std::unique_lock lock(mu_);
  auto it = families_.find(spec.name);
  if (it != families_.end()) {
    if (it->second->spec() != spec)
      throw std::invalid_argument(spec.name + ": registered twice with different definitions");
    return *it->second;
  }
  std::unique_ptr<FamilyBase> family;
  bool no_labels = spec.label_names.empty();
  std::string name = spec.name;
  switch (spec.type) {
    case MetricType::kCounter: {
      auto f = std::make_unique<CounterFamily>(std::move(spec));
      if (no_labels) f->with({});
      family = std::move(f);
      break;
    }
    case MetricType::kGauge: {
      auto f = std::make_unique<GaugeFamily>(std::move(spec));
      if (no_labels) f->with({});
      family = std::move(f);
      break;
    }
    case MetricType::kHistogram: {
      auto f = std::make_unique<HistogramFamily>(std::move(spec));
      if (no_labels) f->with({});
      family = std::move(f);
      break;
    }
  }
  return *families_.emplace(std::move(name), std::move(family)).first->second;
}

CounterFamily& Registry::counter(std::string name, std::string help,
                                 std::vector<std::string> labels) {
  return static_cast<CounterFamily&>(
      add({std::move(name), std::move(help), MetricType::kCounter, std::move(labels), {}}));
}

GaugeFamily& Registry::gauge(std::string name, std::string help,
                             std::vector<std::string> labels) {
  return static_cast<GaugeFamily&>(
      add({std::move(name), std::move(help), MetricType::kGauge, std::move(labels), {}}));
}

HistogramFamily& Registry::histogram(std::string name, std::string help,
                                     std::vector<std::string> labels,
                                     std::vector<double> upper_bounds) {
  // Accept a trailing +Inf as client libraries do; the bucket is always there.
  if (!upper_bounds.empty() && std::isinf(upper_bounds.back()) && upper_bounds.back() > 0)
    upper_bounds.pop_back();
  return static_cast<HistogramFamily&>(add({std::move(name), std::move(help),
                                            MetricType::kHistogram, std::move(labels),
                                            std::move(upper_bounds)}));
}

void Registry::add_collector(std::function<void()> collect) {
  std::unique_lock lock(mu_);
  collectors_.push_back(std::move(collect));
}

void Registry::render(std::string& out) const {
  std::shared_lock lock(mu_);
  // Collectors only update series; they must not register (that needs the unique lock).
  for (const auto& collect : collectors_) collect();
  out.reserve(out.size() + last_size_.load(std::memory_order_relaxed) + 1024);
  size_t start = out.size();
  for (const auto& [name, family] : families_) family->render(out);
  last_size_.store(out.size() - start, std::memory_order_relaxed);
}

std::string Registry::render() const {
  std::string out;
  render(out);
  return out;
}

size_t Registry::series_count() const {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const auto& [name, family] : families_) n += family->size();
  return n;
}

}  // namespace goscry::prometheus
