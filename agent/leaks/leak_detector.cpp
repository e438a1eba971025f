#include "agent/leaks/leak_detector.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "agent/goruntime/goroutine_formats.h"
#include "agent/goruntime/goroutine_reader.h"
#include "exporters/json_report.h"

namespace goscry {

namespace {

constexpr double kNsPerSecond = 1e9;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// The package path of a Go function name: "goscry.dev/x/pkg.(*T).M" -> "goscry.dev/x/pkg".
std::string package_of(const std::string& fn) {
  const auto slash = fn.rfind('/');
  const auto dot = fn.find('.', slash == std::string::npos ? 0 : slash);
  return dot == std::string::npos ? "" : fn.substr(0, dot);
}

// The program's own code, as opposed to the standard library: package main, or an import
// path whose first element has a dot (a module path: "github.com/...", "goscry.dev/...").
bool is_program_code(const std::string& fn) {
  const std::string pkg = package_of(fn);
  if (pkg == "main") return true;
  const auto first = pkg.substr(0, pkg.find('/'));
  return first.find('.') != std::string::npos;
}

bool can_leak(const GoroutineView& g) {
  // A torn goroutine kept running under every read: it has no blocking site to group by.
  return !g.system && !g.g.torn && g.created_by && g.g.goid != 1 &&
         (g.g.status == kGwaiting || g.g.status == kGsyscall || g.g.status == kGleaked);
}

std::string innermost_shown(const GoroutineView& g) {
  for (const auto& f : g.frames)
    if (shown_in_traceback(f)) return f.function;
  return g.frames.empty() ? "?" : g.frames.front().function;
}

// Least-squares slope of count over time, per minute.
double slope_per_minute(const auto& samples) {
  const double n = double(samples.size());
  double st = 0, sc = 0, stt = 0, stc = 0;
  const double t0 = double(samples.front().t);
  for (const auto& s : samples) {
    const double t = (double(s.t) - t0) / kNsPerSecond;
    st += t;
    sc += double(s.count);
    stt += t * t;
    stc += t * double(s.count);
  }
  const double den = n * stt - st * st;
  return den > 0 ? (n * stc - st * sc) / den * 60.0 : 0.0;
}

}  // namespace

CodeLocation blocking_site(const GoroutineView& g) {
  for (const auto& f : g.frames)
    if (!f.elided && is_program_code(f.function)) return {f.function, f.file, f.line};
  for (const auto& f : g.frames)
    if (shown_in_traceback(f)) return {f.function, f.file, f.line};
  if (!g.frames.empty()) return {g.frames[0].function, g.frames[0].file, g.frames[0].line};
  return {"?", "?", 0};
}

std::optional<CodeLocation> creation_site(const GoroutineView& g) {
  if (!g.created_by) return std::nullopt;
  return static_cast<const CodeLocation&>(*g.created_by);
}

namespace {

// Each example's traceback text, as the runtime prints it: its arguments read now, for these
// few goroutines only, and kept only where the goroutine still has the stack the snapshot
// gave it (read_args_again); a failed read leaves them "(...)", never a guess.
void render_examples(std::vector<std::pair<LeakSuspect*, const GoroutineView*>>& examples,
                     const GoProcess* target) {
  std::vector<GoroutineView> views;
  views.reserve(examples.size());
  for (const auto& [s, v] : examples) views.push_back(*v);
  if (target) {
    std::vector<Goroutine*> gs;
    for (auto& v : views) gs.push_back(&v.g);
    if (!read_args_again(*target, gs))
      for (auto& v : views) v.g.arg_words.clear(), v.g.arg_frames = 0;
  }
  for (std::size_t i = 0; i < views.size(); ++i)
    examples[i].first->example_stack = traceback_text({views[i]});
}

}  // namespace

std::vector<LeakSuspect> LeakDetector::observe(
    const std::vector<GoroutineView>& gs, std::int64_t now,
    const std::unordered_map<std::uint64_t, SiteCounter>* sites, const GoProcess* target) {
  if (start_ == 0) start_ = now;
  std::map<LeakKey, std::vector<const GoroutineView*>> round;
  for (const auto& g : gs) {
    if (!can_leak(g)) continue;
    round[{*creation_site(g), blocking_site(g), g.state}].push_back(&g);
  }
  std::vector<LeakSuspect> fresh;
  const std::int64_t window_start = now - std::int64_t(opt_.window_seconds * kNsPerSecond);
  for (auto it = groups_.begin(); it != groups_.end();) {
    // Groups that emptied keep a zero sample (a burst that finished), then go once their
    // whole window is zeros, so memory follows the live groups.
    if (!round.count(it->first)) {
      auto& g = it->second;
      g.samples.push_back({now, 0});
      g.first_seen.clear();
      std::erase_if(g.samples, [&](const Sample& s) { return s.t < window_start; });
      const bool all_zero = std::all_of(g.samples.begin(), g.samples.end(),
                                        [](const Sample& s) { return s.count == 0; });
      if (all_zero && !g.suspect) {
        it = groups_.erase(it);
        continue;
      }
    }
    ++it;
  }
  std::vector<std::pair<LeakSuspect*, const GoroutineView*>> examples;
  std::vector<const LeakSuspect*> fresh_ones;
  for (const auto& [key, members] : round) {
    auto [it, inserted] = groups_.try_emplace(key);
    Group& g = it->second;
    if (inserted) g.created_at = now;
    g.gopc = members.front()->g.gopc;
    std::unordered_map<std::uint64_t, std::int64_t> seen;
    seen.reserve(members.size());
    for (const auto* m : members) {
      auto prev = g.first_seen.find(m->g.goid);
      seen[m->g.goid] = prev == g.first_seen.end() ? now : prev->second;
    }
    g.first_seen.swap(seen);
    g.samples.push_back({now, members.size()});
    std::erase_if(g.samples, [&](const Sample& s) { return s.t < window_start; });
    const GoroutineView* example = nullptr;
    auto s = evaluate(key, g, members, now, sites, example);
    if (!s) continue;
    const bool is_new = !g.suspect;
    s->reported_after_seconds =
        is_new ? double(now - start_) / kNsPerSecond : g.suspect->reported_after_seconds;
    g.suspect = std::move(s);
    examples.emplace_back(&*g.suspect, example);
    if (is_new) fresh_ones.push_back(&*g.suspect);
  }
  render_examples(examples, target);
  for (const auto* s : fresh_ones) fresh.push_back(*s);
  return fresh;
}

std::optional<LeakSuspect> LeakDetector::evaluate(
    const LeakKey& key, const Group& g, const std::vector<const GoroutineView*>& members,
    std::int64_t now, const std::unordered_map<std::uint64_t, SiteCounter>* sites,
    const GoroutineView*& example) const {
  const auto& s = g.samples;
  if (s.size() < opt_.min_samples) return std::nullopt;
  const double span = double(now - s.front().t) / kNsPerSecond;
  if (span < opt_.min_span_seconds) return std::nullopt;
  const std::size_t c0 = s.front().count, cn = s.back().count;
  if (cn < c0 + opt_.min_growth) return std::nullopt;
  // Many small rises, few falls: a steady leak, not one jump nor a burst.
  std::size_t ups = 0, downs = 0;
  for (std::size_t i = 1; i < s.size(); ++i) {
    ups += s[i].count > s[i - 1].count;
    downs += s[i].count < s[i - 1].count;
  }
  const double steps = double(s.size() - 1);
  if (double(ups) < std::max(3.0, 0.3 * steps) || double(downs) > std::max(1.0, 0.15 * steps))
    return std::nullopt;
  // Still growing in the last third: no plateau.
  const std::int64_t third = now - std::int64_t(span / 3 * kNsPerSecond);
  const Sample* ref_late = nullptr;
  for (const auto& x : s)
    if (x.t <= third) ref_late = &x;
  if (!ref_late || cn <= ref_late->count) return std::nullopt;
  // Retention: of the members present at the earliest sample that had some, how many are
  // still here. Members that exit and get replaced fail this.
  const Sample* ref = nullptr;
  for (const auto& x : s)
    if (x.count > 0 && x.t <= third) {
      ref = &x;
      break;
    }
  if (!ref) return std::nullopt;
  std::size_t kept = 0;
  for (const auto& [goid, t] : g.first_seen) kept += t <= ref->t;
  const double retention = double(kept) / double(ref->count);
  if (retention < opt_.min_retention) return std::nullopt;

  LeakSuspect out;
  out.key = key;
  out.count = cn;
  out.gopc = g.gopc;
  out.growth_per_minute = slope_per_minute(s);
  const GoroutineView* oldest = members.front();
  double oldest_wait = 0;
  for (const auto* m : members) {
    const double observed = double(now - g.first_seen.at(m->g.goid)) / kNsPerSecond;
    const double w = std::max(observed, m->wait_ns > 0 ? double(m->wait_ns) / kNsPerSecond : 0);
    if (w > oldest_wait) {
      oldest_wait = w;
      oldest = m;
    }
  }
  out.oldest_wait_seconds = oldest_wait;
  out.example_goid = oldest->g.goid;
  example = oldest;
  out.blocked_in = innermost_shown(*oldest);
  out.reasons.push_back("grew from " + std::to_string(c0) + " to " + std::to_string(cn) +
                        " goroutines in " + fmt("%.0f s", span) + " (" +
                        fmt("%+.1f", out.growth_per_minute) + "/min), rising in " +
                        std::to_string(ups) + " of " + std::to_string(s.size() - 1) +
                        " intervals, falling in " + std::to_string(downs));
  out.reasons.push_back(fmt("%.0f%%", retention * 100) + " of the " +
                        std::to_string(ref->count) + " goroutines seen " +
                        fmt("%.0f s", double(now - ref->t) / kNsPerSecond) +
                        " ago are still blocked here");
  out.reasons.push_back("the oldest has been blocked for " + fmt("%.0f s", oldest_wait));
  bool bpf_agrees = false;
  if (sites) {
    auto it = sites->find(g.gopc);
    if (it != sites->end()) {
      out.site_created = it->second.created;
      out.site_exited = it->second.exited;
      const std::uint64_t live = it->second.created - std::min(it->second.created, it->second.exited);
      bpf_agrees = live + 1 >= cn - c0;
      out.reasons.push_back("BPF: " + std::to_string(it->second.created) + " created and " +
                            std::to_string(it->second.exited) +
                            " exited at this go statement since attach");
    }
  }
  const bool steady = downs == 0 && retention >= 0.98;
  out.confidence = (steady && (!sites || bpf_agrees)) ? "high" : "medium";
  return out;
}

std::vector<LeakSuspect> LeakDetector::suspects() const {
  std::vector<LeakSuspect> out;
  for (const auto& [k, g] : groups_)
    if (g.suspect) out.push_back(*g.suspect);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.count > b.count; });
  return out;
}

bool LeakDetector::in_suspect_group(const GoroutineView& g) const {
  if (!can_leak(g)) return false;
  auto it = groups_.find({*creation_site(g), blocking_site(g), g.state});
  return it != groups_.end() && it->second.suspect.has_value();
}

nlohmann::ordered_json suspect_json(const LeakSuspect& s) {
  nlohmann::ordered_json j;
  j["creation_site"] = {{"function", s.key.creation.function},
                        {"file", s.key.creation.file},
                        {"line", s.key.creation.line}};
  j["blocking_site"] = {{"function", s.key.blocking.function},
                        {"file", s.key.blocking.file},
                        {"line", s.key.blocking.line}};
  j["wait_reason"] = s.key.wait_reason;
  j["blocked_in"] = s.blocked_in;
  j["count"] = s.count;
  j["growth_per_minute"] = s.growth_per_minute;
  j["oldest_wait_seconds"] = s.oldest_wait_seconds;
  j["confidence"] = s.confidence;
  j["reasons"] = s.reasons;
  j["reported_after_seconds"] = s.reported_after_seconds;
  if (s.site_created) {
    j["site_created"] = *s.site_created;
    j["site_exited"] = *s.site_exited;
  }
  j["example_goroutine"] = s.example_goid;
  j["example_stack"] = s.example_stack;
  return j;
}

nlohmann::ordered_json leaks_report_json(int pid, const std::string& go_version,
                                         double watched_seconds,
                                         const std::vector<LeakSuspect>& suspects,
                                         const std::string& bpf_status) {
  auto j = json_report::envelope("leaks", 1);
  j["pid"] = pid;
  j["go_version"] = go_version;
  j["watched_seconds"] = watched_seconds;
  j["bpf"] = bpf_status;
  auto arr = nlohmann::ordered_json::array();
  for (const auto& s : suspects) arr.push_back(suspect_json(s));
  j["suspects"] = std::move(arr);
  return j;
}

Result<GoroutineAnswer> goroutine_leak_profile(const GoProcess& t, const LeakDetector& d,
                                               const std::vector<GoroutineView>& gs,
                                               int debug) {
  std::vector<GoroutineView> leaked;
  for (const auto& g : gs)
    if (d.in_suspect_group(g)) leaked.push_back(g);
  if (debug >= 2) {
    // The traceback prints each frame's arguments: read now for these goroutines only (the
    // snapshots are read without them); one that moved on since prints "(...)".
    // A read that failed (the target exiting) leaves them all so.
    std::vector<Goroutine*> read;
    for (auto& v : leaked) read.push_back(&v.g);
    if (!read_args_again(t, read))
      for (auto* g : read) g->arg_words.clear(), g->arg_frames = 0;
    return streamed_traceback(std::move(leaked));
  }
  if (debug == 1) {
    // Go names the profile in its header: "goroutineleak profile: total N".
    std::string text = goroutine_profile_debug1(leaked);
    return GoroutineAnswer{"goroutineleak" + text.substr(std::string("goroutine").size()), {}};
  }
  auto proto = goroutine_profile_proto(t, leaked);
  if (!proto) return std::unexpected(proto.error());
  return GoroutineAnswer{std::move(*proto), {}};
}

std::string suspect_text(const LeakSuspect& s, bool with_stack) {
  std::string out = std::to_string(s.count) + " goroutines [" + s.key.wait_reason + "] (" +
                    s.confidence + " confidence, " + fmt("%+.1f", s.growth_per_minute) +
                    "/min, oldest blocked " + fmt("%.0f s", s.oldest_wait_seconds) + ")\n" +
                    "  created by " + s.key.creation.text() + "\n" + "  blocked at " +
                    s.key.blocking.text() + " in " + s.blocked_in + "\n";
  if (with_stack) {
    for (const auto& r : s.reasons) out += "  - " + r + "\n";
    out += "  example:\n";
    for (const auto& line : [&] {
           std::vector<std::string> v;
           std::string cur;
           for (char c : s.example_stack) {
             if (c == '\n') {
               v.push_back(cur);
               cur.clear();
             } else {
               cur += c;
             }
           }
           return v;
         }())
      out += "    " + line + "\n";
  }
  return out;
}

}  // namespace goscry
