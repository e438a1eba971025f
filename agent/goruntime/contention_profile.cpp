#include "agent/goruntime/contention_profile.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <span>
#include <unordered_map>

#include "agent/goruntime/pprof_mapping.h"
#include "agent/goruntime/profile_buckets.h"  // distinct_pcs
#include "exporters/json_report.h"
#include "exporters/pprof.h"
#include "symbolizer/buildinfo.h"  // go_minor_version
#include "symbolizer/wrapper_frames.h"

namespace goscry {

namespace {

// The frames at pc-1 of every distinct pc of the records (innermost first).
using FrameTable = std::unordered_map<std::uint64_t, std::vector<Frame>>;

FrameTable frame_table(const GoProcess& t, const ContentionRecords& records) {
  const auto pcs = distinct_pcs(records);
  std::vector<std::uint64_t> query;
  for (auto pc : pcs) query.push_back(pc - 1 - t.bias());
  auto frames = t.binary().frames_batch(query);
  FrameTable out;
  for (std::size_t i = 0; i < pcs.size(); ++i) out.emplace(pcs[i], std::move(frames[i]));
  return out;
}

bool same_frames(std::span<const Frame> a, std::span<const Frame> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Frame& x, const Frame& y) {
    return x.function == y.function && x.line == y.line && x.file == y.file;
  });
}

// What runtime/pprof makes of a stack (expandInlinedFrames from 1.23, then
// appendLocsForStack): one location per physical call, its lines the logical frames at
// that pc, wrappers elided as CallersFrames elides them, runtime.goexit left out. Before
// 1.23 (and for the first frames from 1.23) the runtime recorded one pc per logical
// frame: the pcs after the first whose frames are the outer part of the same physical
// call's frames are that call's, and fold into its location.
HeapLocations locations(const std::vector<std::uint64_t>& stack, const FrameTable& table,
                        std::map<std::uint64_t, std::shared_ptr<const HeapLocation>>& cache) {
  HeapLocations out;
  // From Go 1.23 a stack the runtime took with callers() rather than frame pointers (its own
  // locks' contention) starts with logicalStackSentinel, ^uintptr(0): not a pc.
  const std::size_t start = !stack.empty() && stack.front() == ~std::uint64_t{0} ? 1 : 0;
  for (std::size_t i = start; i < stack.size(); ++i) {
    const std::vector<Frame>& frames = table.at(stack[i]);
    if (!frames.empty() && frames.front().function == "runtime.goexit") continue;
    const std::uint64_t first = stack[i];
    std::size_t outer = 1;  // frames of this call the pcs consumed so far stand for
    while (i + 1 < stack.size() && outer < frames.size()) {
      const std::vector<Frame>& next = table.at(stack[i + 1]);
      if (next.empty() || next.size() > frames.size() - outer ||
          !same_frames(std::span(frames).last(next.size()), next))
        break;
      outer = frames.size() - next.size() + 1;
      ++i;
    }
    auto it = cache.find(first);
    if (it == cache.end()) {
      HeapLocation loc;
      loc.address = first - 1;
      WrapperElision elision;
      for (const auto& f : frames)
        if (!elision.elided(f.kind)) loc.lines.push_back(f);
      it = cache.emplace(first, std::make_shared<const HeapLocation>(std::move(loc))).first;
    }
    out.push_back(it->second);
  }
  return out;
}

// The sample's contentions and delay from its record, as runtime/pprof scales them.
void scale_values(ContentionSample& s, const ContentionProfile& p) {
  const double ghz = double(p.ticks_per_second) / 1e9;
  s.contentions = s.record.count * p.scale;
  s.delay_ns = std::int64_t(double(s.record.cycles) / ghz * double(p.scale));
}

std::int64_t now_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ContentionProfile contention_profile(const GoProcess& t, const ContentionRecords& records) {
  const int minor = go_minor_version(t.go_version()).value_or(0);
  const FrameTable table = frame_table(t, records);
  std::map<std::uint64_t, std::shared_ptr<const HeapLocation>> cache;
  ContentionProfile p;
  p.kind = records.kind;
  p.rate = records.rate;
  p.ticks_per_second = records.ticks_per_second;
  p.time_nanos = now_nanos();
  if (minor <= 19 && records.kind == ContentionKind::kMutex) p.scale = records.rate;
  for (const auto& r : records.records) {
    ContentionSample s;
    s.record = r;
    scale_values(s, p);
    s.locations = locations(r.stack, table, cache);
    p.samples.push_back(std::move(s));
  }
  std::stable_sort(p.samples.begin(), p.samples.end(), [](const auto& a, const auto& b) {
    return a.record.cycles > b.record.cycles;
  });
  return p;
}

ContentionProfile contention_delta(const ContentionProfile& before,
                                   const ContentionProfile& after) {
  std::map<std::vector<std::uint64_t>, const ContentionSample*> old;
  for (const auto& s : before.samples) old[s.record.stack] = &s;
  ContentionProfile d = after;
  d.samples.clear();
  d.duration_nanos = after.time_nanos - before.time_nanos;
  d.delta = true;
  for (const auto& s : after.samples) {
    ContentionSample out = s;
    if (auto it = old.find(s.record.stack); it != old.end()) {
      out.record.count -= it->second->record.count;
      out.record.cycles -= it->second->record.cycles;
      scale_values(out, d);
    }
    if (out.contentions != 0 || out.delay_ns != 0) d.samples.push_back(std::move(out));
  }
  return d;
}

Result<std::string> contention_profile_proto(const GoProcess& t, const ContentionProfile& p) {
  pprof::ProfileBuilder b(
      std::vector<pprof::ValueType>{{"contentions", "count"}, {"delay", "nanoseconds"}});
  b.set_period({"contentions", "count"}, 1);
  b.set_time(p.time_nanos, p.duration_nanos);
  PprofLocations locations(b, t);
  for (const auto& s : p.samples) {
    b.add_sample(locations.ids(s.locations), std::vector<std::int64_t>{s.contentions, s.delay_ns}, {});
  }
  auto gz = b.serialize_gzip();
  if (!gz) return fail(ErrorKind::Io, std::string(contention_name(p.kind)) + " profile: " +
                                          gz.error());
  return *gz;
}

std::string contention_profile_text(const ContentionProfile& p) {
  std::string out = std::string("--- ") +
                    (p.kind == ContentionKind::kBlock ? "contention" : "mutex") + ":\n";
  out += "cycles/second=" + std::to_string(p.ticks_per_second) + "\n";
  if (p.kind == ContentionKind::kMutex) out += "sampling period=" + std::to_string(p.rate) + "\n";
  for (const auto& s : p.samples) {
    out += std::to_string(s.record.cycles) + " " + std::to_string(s.record.count) + " @";
    for (auto pc : s.record.stack) out += " " + to_hex(pc);
    out += "\n";
    for (const auto& l : s.locations)
      for (const auto& f : l->lines)
        out += "#\t" + to_hex(l->address) + "\t" + f.function + "\t" + f.file + ":" +
               std::to_string(f.line) + "\n";
    out += "\n";
  }
  return out;
}

nlohmann::ordered_json contention_profile_json(const GoProcess& t, const ContentionProfile& p,
                                               const ContentionRecords& last_read) {
  auto j = json_report::envelope(
      std::string(contention_name(p.kind)) + (p.delta ? "_delta" : ""), 1);
  j["pid"] = t.pid();
  j["exe"] = t.process().exe_path();
  j["go_version"] = t.go_version();
  j[p.kind == ContentionKind::kBlock ? "block_profile_rate_cycles" : "mutex_profile_fraction"] =
      p.rate;
  j["cycles_per_second"] = p.ticks_per_second;
  j["cycles_per_second_source"] = last_read.ticks_source;
  if (p.delta) j["duration_ns"] = p.duration_nanos;
  j["read_ns"] = last_read.read_ns;
  auto arr = nlohmann::ordered_json::array();
  for (const auto& s : p.samples) {
    nlohmann::ordered_json o;
    o["contentions"] = s.contentions;
    o["delay_ns"] = s.delay_ns;
    o["recorded"] = {{"count", s.record.count}, {"cycles", s.record.cycles}};
    o["stack"] = stack_json(s.locations);
    arr.push_back(std::move(o));
  }
  j["samples"] = std::move(arr);
  return j;
}

}  // namespace goscry
