#include "agent/goruntime/heap_profile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <unordered_map>

#include "agent/goruntime/pprof_mapping.h"
#include "agent/goruntime/profile_buckets.h"  // distinct_pcs
#include "exporters/json_report.h"
#include "exporters/pprof.h"
#include "symbolizer/buildinfo.h"  // go_minor_version

namespace goscry {

namespace {

// What runtime/pprof asks of each pc, computed once per distinct pc.
struct PcInfo {
  std::string name_at_pc;       // FuncForPC(pc).Name(): the innermost function at pc itself
  std::vector<Frame> frames;    // every frame at pc-1 (the call), innermost first
  std::uint64_t entry = 0;      // entry of the physical function at pc-1; 0: not Go code
};

class PcTable {
 public:
  PcTable(const GoProcess& t, const HeapRecords& records) {
    const auto pcs = distinct_pcs(records);
    // Link-time addresses, both pc and pc-1, symbolized in one pass per function.
    std::vector<std::uint64_t> query;
    for (auto pc : pcs) {
      query.push_back(pc - t.bias());
      query.push_back(pc - 1 - t.bias());
    }
    auto frames = t.binary().frames_batch(query);
    for (std::size_t i = 0; i < pcs.size(); ++i) {
      PcInfo info;
      if (!frames[2 * i].empty()) info.name_at_pc = frames[2 * i].front().function;
      info.frames = std::move(frames[2 * i + 1]);
      if (auto f = t.function_at(pcs[i] - 1)) info.entry = f->entry;
      table_.emplace(pcs[i], std::move(info));
    }
  }
  const PcInfo& at(std::uint64_t pc) const { return table_.at(pc); }

 private:
  std::unordered_map<std::uint64_t, PcInfo> table_;
};

bool runtime_function(std::string_view name, int minor) {
  // 1.24 moved runtime code into internal/runtime/* and hid those frames too.
  return name.starts_with("runtime.") || (minor >= 24 && name.starts_with("internal/runtime/"));
}

// writeHeapProto's first try: leading runtime frames hidden (the allocator's own), unless
// that leaves nothing.
std::vector<std::uint64_t> hide_runtime(const std::vector<std::uint64_t>& stack,
                                        const PcTable& pcs, int minor) {
  for (std::size_t i = 0; i < stack.size(); ++i)
    if (!runtime_function(pcs.at(stack[i]).name_at_pc, minor))
      return {stack.begin() + std::ptrdiff_t(i), stack.end()};
  return stack;
}

// The locations made so far, by their first pc, with how many pcs of a stack each stands
// for: runtime/pprof's profileBuilder.locs, which also makes one location per address.
struct CachedLocation {
  std::shared_ptr<const HeapLocation> location;
  std::size_t pcs = 0;
};
using LocationCache = std::unordered_map<std::uint64_t, CachedLocation>;

// runtime/pprof's pcDeck: consecutive return PCs that are the inlined frames of one
// physical call site become one location.
struct Deck {
  std::vector<std::uint64_t> pcs;
  std::vector<Frame> frames;
  std::uint64_t entry = 0;

  bool try_add(std::uint64_t pc, const PcInfo& info) {
    const Frame& next = info.frames.front();
    if (!frames.empty()) {
      const Frame& last = frames.back();
      if (!last.inlined || entry == 0 || info.entry == 0 || entry != info.entry ||
          last.function == next.function)
        return false;
    }
    pcs.push_back(pc);
    frames.push_back(next);
    entry = info.entry;
    return true;
  }
  void emit(HeapLocations& out, LocationCache& cache) {
    if (pcs.empty()) return;
    auto loc =
        std::make_shared<const HeapLocation>(HeapLocation{pcs.front() - 1, std::move(frames)});
    cache.try_emplace(pcs.front(), CachedLocation{loc, pcs.size()});
    out.push_back(std::move(loc));
    *this = {};
  }
};

// appendLocsForStack: one location per physical frame, the inlined calls as its lines;
// runtime.goexit left out; a last pc inside inlined code gets its callers' lines
// (expandFinalInlineFrame: a stack cut at the depth limit).
HeapLocations locations(const std::vector<std::uint64_t>& stack, const PcTable& pcs,
                        LocationCache& cache) {
  HeapLocations out;
  Deck deck;
  for (std::size_t i = 0; i < stack.size(); ++i) {
    const PcInfo& info = pcs.at(stack[i]);
    if (info.frames.empty()) {  // not Go code: a location of its own, no lines
      deck.emit(out, cache);
      out.push_back(std::make_shared<const HeapLocation>(HeapLocation{stack[i] - 1, {}}));
      continue;
    }
    if (info.frames.front().function == "runtime.goexit") {
      deck.emit(out, cache);
      continue;
    }
    if (deck.pcs.empty() || !deck.try_add(stack[i], info)) {
      deck.emit(out, cache);
      if (auto it = cache.find(stack[i]); it != cache.end()) {
        out.push_back(it->second.location);
        i += std::max<std::size_t>(it->second.pcs, 1) - 1;
        continue;
      }
      deck.try_add(stack[i], info);
    }
    if (i + 1 == stack.size() && info.frames.size() > 1)
      for (std::size_t k = 1; k < info.frames.size(); ++k) deck.frames.push_back(info.frames[k]);
  }
  deck.emit(out, cache);
  return out;
}

// scaleHeapSample: the unsampled (count, bytes) of a sampled (count, bytes), the
// probability of sampling an allocation of size S at rate R being 1 - exp(-S/R).
std::pair<std::int64_t, std::int64_t> scale(std::int64_t count, std::int64_t bytes,
                                            std::int64_t object_size, std::int64_t rate,
                                            int minor) {
  if (minor >= 27) {  // scaleHeapSample(count, ObjectSize, rate)
    if (count == 0 || object_size == 0) return {0, 0};
    if (rate <= 1) return {count, count * object_size};
    const double s = 1 / (1 - std::exp(-double(object_size) / double(rate)));
    return {std::int64_t(double(count) * s), std::int64_t(double(count * object_size) * s)};
  }
  if (count == 0 || bytes == 0) return {0, 0};
  if (rate <= 1) return {count, bytes};
  const double avg = double(bytes) / double(count);
  const double s = 1 / (1 - std::exp(-avg / double(rate)));
  return {std::int64_t(double(count) * s), std::int64_t(double(bytes) * s)};
}

std::int64_t now_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HeapSample sample_of(const HeapRecord& r, const PcTable& pcs, LocationCache& cache,
                     std::int64_t rate, int minor) {
  HeapSample s;
  s.stack = hide_runtime(r.stack, pcs, minor);
  s.locations = locations(s.stack, pcs, cache);
  if (s.locations.empty()) {  // the second try: every frame shown
    s.stack = r.stack;
    s.locations = locations(s.stack, pcs, cache);
  }
  std::tie(s.values[kAllocObjects], s.values[kAllocSpace]) =
      scale(r.alloc_objects, r.alloc_bytes, r.object_size, rate, minor);
  std::tie(s.values[kInuseObjects], s.values[kInuseSpace]) =
      scale(r.inuse_objects(), r.inuse_bytes(), r.object_size, rate, minor);
  if (minor >= 27)
    s.bytes_label = r.object_size;
  else if (r.alloc_objects > 0)
    s.bytes_label = r.alloc_bytes / r.alloc_objects;
  s.record = r;
  return s;
}

}  // namespace

HeapProfile heap_profile(const GoProcess& t, const HeapRecords& records) {
  const int minor = go_minor_version(t.go_version()).value_or(0);
  const PcTable pcs(t, records);
  LocationCache cache;
  HeapProfile p;
  p.rate = records.rate;
  p.time_nanos = now_nanos();
  p.samples.reserve(records.records.size());
  for (const auto& r : records.records)
    p.samples.push_back(sample_of(r, pcs, cache, records.rate, minor));
  return p;
}

HeapProfile heap_delta(const HeapProfile& before, const HeapProfile& after) {
  using Key = std::pair<std::vector<std::uint64_t>, std::int64_t>;
  std::map<Key, const HeapSample*> old;
  for (const auto& s : before.samples) old[{s.stack, s.bytes_label}] = &s;
  HeapProfile d;
  d.rate = after.rate;
  d.time_nanos = after.time_nanos;
  d.duration_nanos = after.time_nanos - before.time_nanos;
  d.delta = true;
  for (const auto& s : after.samples) {
    HeapSample out = s;
    if (auto it = old.find({s.stack, s.bytes_label}); it != old.end()) {
      const HeapSample& b = *it->second;
      for (int v = 0; v < kHeapValues; ++v) out.values[v] -= b.values[v];
      out.record.alloc_objects -= b.record.alloc_objects;
      out.record.free_objects -= b.record.free_objects;
      out.record.alloc_bytes -= b.record.alloc_bytes;
      out.record.free_bytes -= b.record.free_bytes;
    }
    if (std::any_of(std::begin(out.values), std::end(out.values), [](auto v) { return v != 0; }))
      d.samples.push_back(std::move(out));
  }
  return d;
}

std::vector<HeapSite> heap_sites(const HeapProfile& p, HeapValue value) {
  std::map<std::string, std::int64_t> by_function;
  for (const auto& s : p.samples) {
    if (s.values[value] == 0 || s.locations.empty() || s.locations.front()->lines.empty())
      continue;
    by_function[s.locations.front()->lines.front().function] += s.values[value];
  }
  std::vector<HeapSite> sites;
  for (auto& [function, v] : by_function)
    if (v != 0) sites.push_back({function, v});
  std::stable_sort(sites.begin(), sites.end(),
                   [](const HeapSite& a, const HeapSite& b) { return a.value > b.value; });
  return sites;
}

PprofLocations::PprofLocations(pprof::ProfileBuilder& b, const GoProcess& t)
    : b_(b), mapping_(b.add_mapping(go_text_mapping(t))) {}

std::vector<std::uint64_t> PprofLocations::ids(const HeapLocations& stack) {
  std::vector<std::uint64_t> out;
  for (const auto& l : stack) {
    auto [it, fresh] = ids_.try_emplace(l.get(), 0);
    if (fresh) {
      pprof::Location loc;
      loc.mapping_id = mapping_;
      loc.address = l->address;
      for (const auto& f : l->lines)
        loc.lines.push_back({{f.function, f.function, f.file, 0}, f.line, 0});
      it->second = b_.add_location(loc);
    }
    out.push_back(it->second);
  }
  return out;
}

Result<std::string> heap_profile_proto(const GoProcess& t, const HeapProfile& p) {
  pprof::ProfileBuilder b(std::vector<pprof::ValueType>{{"alloc_objects", "count"},
                                                        {"alloc_space", "bytes"},
                                                        {"inuse_objects", "count"},
                                                        {"inuse_space", "bytes"}});
  b.set_period({"space", "bytes"}, p.rate);
  b.set_time(p.time_nanos, p.duration_nanos);
  // writeAlloc names alloc_space the default; the heap profile names none.
  if (p.allocs) b.set_default_sample_type("alloc_space");
  PprofLocations locations(b, t);
  for (const auto& s : p.samples) {
    const std::vector<std::uint64_t> locs = locations.ids(s.locations);
    std::vector<pprof::Label> labels;
    if (s.bytes_label != 0) labels.push_back(pprof::Label::number("bytes", s.bytes_label));
    b.add_sample(locs, std::vector<std::int64_t>(std::begin(s.values), std::end(s.values)), labels);
  }
  auto gz = b.serialize_gzip();
  if (!gz) return fail(ErrorKind::Io, "heap profile: " + gz.error());
  return *gz;
}

namespace {

// printStackRecord: one "#\tpc\tfunc+off\tfile:line" per logical frame, the leading
// runtime frames and runtime.goexit left out (all shown when nothing else is left).
void stack_record(std::string& out, const HeapSample& s) {
  for (const auto& l : s.locations)
    for (const auto& f : l->lines) out += "#\t" + to_hex(l->address) + "\t" + f.function + "\t" +
                                         f.file + ":" + std::to_string(f.line) + "\n";
  out += "\n";
}

}  // namespace

std::string heap_profile_text(const HeapProfile& p) {
  std::vector<const HeapSample*> order;
  HeapRecord total;
  for (const auto& s : p.samples) {
    order.push_back(&s);
    total.alloc_objects += s.record.alloc_objects;
    total.alloc_bytes += s.record.alloc_bytes;
    total.free_objects += s.record.free_objects;
    total.free_bytes += s.record.free_bytes;
  }
  std::stable_sort(order.begin(), order.end(), [](const HeapSample* a, const HeapSample* b) {
    return a->record.inuse_bytes() > b->record.inuse_bytes();
  });
  // Go adds one to the alloc bytes when they equal the in-use bytes, so that pprof does not
  // take the profile for a two-column one.
  std::int64_t alloc_bytes = total.alloc_bytes;
  if (alloc_bytes == total.inuse_bytes()) ++alloc_bytes;
  std::string out = "heap profile: " + std::to_string(total.inuse_objects()) + ": " +
                    std::to_string(total.inuse_bytes()) + " [" +
                    std::to_string(total.alloc_objects) + ": " + std::to_string(alloc_bytes) +
                    "] @ heap/" + std::to_string(2 * p.rate) + "\n";
  for (const HeapSample* s : order) {
    const HeapRecord& r = s->record;
    out += std::to_string(r.inuse_objects()) + ": " + std::to_string(r.inuse_bytes()) + " [" +
           std::to_string(r.alloc_objects) + ": " + std::to_string(r.alloc_bytes) + "] @";
    for (auto pc : r.stack) out += " " + to_hex(pc);
    out += "\n";
    stack_record(out, *s);
  }
  return out;
}

nlohmann::ordered_json stack_json(const HeapLocations& locations) {
  auto frames = nlohmann::ordered_json::array();
  for (const auto& l : locations)
    for (const auto& f : l->lines)
      frames.push_back({{"function", f.function},
                        {"file", f.file},
                        {"line", f.line},
                        {"pc", to_hex(l->address)},
                        {"inlined", f.inlined}});
  return frames;
}

nlohmann::ordered_json heap_profile_json(const GoProcess& t, const HeapProfile& p,
                                         const HeapRecords& last_read) {
  auto j = json_report::envelope(p.delta ? "allocs_delta" : "heap", 1);
  j["pid"] = t.pid();
  j["exe"] = t.process().exe_path();
  j["go_version"] = t.go_version();
  j["mem_profile_rate"] = p.rate;
  if (p.delta) j["duration_ns"] = p.duration_nanos;
  j["consistent"] = last_read.consistent;
  j["attempts"] = last_read.attempts;
  j["read_ns"] = last_read.read_ns;
  auto arr = nlohmann::ordered_json::array();
  for (const auto& s : p.samples) {
    nlohmann::ordered_json o;
    o["alloc_objects"] = s.values[kAllocObjects];
    o["alloc_bytes"] = s.values[kAllocSpace];
    o["inuse_objects"] = s.values[kInuseObjects];
    o["inuse_bytes"] = s.values[kInuseSpace];
    o["object_bytes"] = s.bytes_label;
    o["sampled"] = {{"alloc_objects", s.record.alloc_objects},
                    {"free_objects", s.record.free_objects},
                    {"alloc_bytes", s.record.alloc_bytes},
                    {"free_bytes", s.record.free_bytes}};
    o["stack"] = stack_json(s.locations);
    arr.push_back(std::move(o));
  }
  j["samples"] = std::move(arr);
  return j;
}

}  // namespace goscry
