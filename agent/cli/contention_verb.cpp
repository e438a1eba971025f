// `goscry block --pid P` and `goscry mutex --pid P`: the program's block and mutex profiles
// read from its own memory, as /debug/pprof/block and /debug/pprof/mutex would answer
// without net/http/pprof; with --seconds N the events of the next N seconds; with
// --enable-sampling the rate written first, goscry's one write (docs/verbs/block.md).
#include <time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "agent/base/exit_codes.h"
#include "agent/base/stop_signal.h"
#include "agent/cli/cli.h"
#include "agent/cli/profile_window.h"
#include "agent/cli/verb_output.h"
#include "agent/goruntime/contention_profile.h"
#include "agent/goruntime/profile_rate.h"
#include "exporters/json_report.h"
#include "symbolizer/output_file.h"

namespace goscry {

namespace {

// Rates --enable-sampling writes when it names none: a blocking event of 10 µs or more
// always recorded (shorter ones in proportion), one mutex contention in 10; each costs the
// program a stack walk per recorded event, not per event.
constexpr std::int64_t kDefaultBlockRateNs = 10'000;
constexpr std::int64_t kDefaultMutexFraction = 10;
struct ContentionOptions : ProfileVerbOptions {
  ContentionKind kind = ContentionKind::kBlock;
  bool enable_sampling = false;
  std::string sampling_rate;  // empty: the default rate
};

std::string verb(const ContentionOptions& o) { return contention_name(o.kind); }

struct ContentionRead {
  ContentionProfile profile;
  ContentionRecords last;
};

Result<ContentionRead> read_profile(const GoProcess& t, ContentionKind kind) {
  auto r = read_contention_records(t, kind);
  if (!r) return std::unexpected(r.error());
  return ContentionRead{contention_profile(t, *r), std::move(*r)};
}

Result<ContentionRead> collect(const ContentionOptions& o, const GoProcess& t) {
  auto first = read_profile(t, o.kind);
  if (!first || o.seconds == 0) return first;
  install_stop_handlers();
  std::cerr << "goscry " << verb(o) << ": pid " << t.pid() << ": "
            << first->profile.samples.size() << " stacks read; the events of the next "
            << o.seconds << " s follow" << std::endl;
  wait_window(t, o.seconds);
  auto second = read_profile(t, o.kind);
  if (!second) return second;
  second->profile = contention_delta(first->profile, second->profile);
  return second;
}

// The rate --enable-sampling asks for, in the unit of the Go API that sets it
// (SetBlockProfileRate's nanoseconds, SetMutexProfileFraction's 1 in N).
Result<std::int64_t> requested_rate(const ContentionOptions& o) {
  if (o.sampling_rate.empty())
    return o.kind == ContentionKind::kBlock ? kDefaultBlockRateNs : kDefaultMutexFraction;
  std::int64_t v = 0;
  const auto* end = o.sampling_rate.data() + o.sampling_rate.size();
  auto [p, ec] = std::from_chars(o.sampling_rate.data(), end, v);
  if (ec != std::errc() || p != end || v < 1)
    return fail(ErrorKind::BadInput, "--enable-sampling=" + o.sampling_rate +
                                         ": the rate is a whole number of at least 1");
  return v;
}

// Writes the rate (the only write goscry makes to a target) and says so on stderr.
Result<void> enable_sampling(const ContentionOptions& o, const GoProcess& t) {
  auto want = requested_rate(o);
  if (!want) return std::unexpected(want.error());
  auto g = contention_globals(t);
  if (!g) return std::unexpected(g.error());
  const bool block = o.kind == ContentionKind::kBlock;
  std::int64_t word = *want;
  std::string ticks_source;
  if (block) word = block_rate_in_ticks(*want, target_ticks_per_second(t, *g, ticks_source));
  const std::string name = block ? "runtime.blockprofilerate" : "runtime.mutexprofilerate";
  auto w = write_profile_rate(t, block ? g->block_rate : g->mutex_rate, word, name);
  if (!w) return std::unexpected(w.error());
  std::cerr << "goscry " << verb(o) << ": pid " << t.pid() << ": wrote " << name << " = " << word
            << (block ? " cputicks (" + std::to_string(*want) + " ns)" : "") << " at "
            << to_hex(w->address) << ", was " << w->before
            << "; it stays so, as if the program had set it" << std::endl;
  return {};
}

struct ContentionReport {
  const GoProcess& target;
  const ContentionRead& read;
};

Result<std::string> contention_json(const ContentionReport& r) {
  return json_report::to_pretty(
             contention_profile_json(r.target, r.read.profile, r.read.last)) +
         "\n";
}

Result<std::string> contention_text(const ContentionReport& r) {
  return contention_profile_text(r.read.profile);
}

Result<std::string> contention_proto(const ContentionReport& r) {
  return contention_profile_proto(r.target, r.read.profile);
}

const Formats<Result<std::string> (*)(const ContentionReport&)> kFormats = {
    {"pprof", contention_proto}, {"text", contention_text}, {"json", contention_json}};

void summary(const ContentionOptions& o, const GoProcess& t, const ContentionRead& c) {
  std::cerr << "goscry " << verb(o) << ": pid " << t.pid() << " (" << t.go_version()
            << "): " << c.profile.samples.size() << " stacks";
  if (o.seconds) std::cerr << " over " << double(c.profile.duration_nanos) / 1e9 << " s";
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.2f ms", double(c.last.read_ns) / 1e6);
  std::cerr << (o.kind == ContentionKind::kBlock ? ", blockprofilerate " : ", mutexprofilerate ")
            << c.profile.rate << ", " << c.profile.ticks_per_second << " cycles/s ("
            << c.last.ticks_source << "), read in " << ms << "\n";
}

// A rate of 0 and nothing recorded: Go programs record no block or mutex events unless
// they ask (SetBlockProfileRate, SetMutexProfileFraction).
Error nothing_recorded(const ContentionOptions& o, const GoProcess& t) {
  const bool block = o.kind == ContentionKind::kBlock;
  return Error{ErrorKind::Unsupported,
               "pid " + std::to_string(t.pid()) + ": " +
                   (block ? "runtime.blockprofilerate" : "runtime.mutexprofilerate") +
                   " is 0 and nothing is recorded: the program never turned " + verb(o) +
                   " profiling on; --enable-sampling[=RATE] makes goscry write the rate",
               0};
}

int run_contention(ContentionOptions o) {
  const std::string v = verb(o);
  if (!o.output.empty() && o.output != "-")
    if (auto w = check_output_path(o.output, "--output"); !w)
      return fail_verb(v, w.error(), kExitBadInput);
  if (o.enable_sampling)
    if (auto r = requested_rate(o); !r) return fail_verb(v, r.error(), kExitBadInput);
  if (o.format.empty()) o.format = o.output.empty() || o.output == "-" ? "text" : "pprof";
  auto target = GoProcess::open(o.target.pid);
  if (!target) return fail_verb(v, target.error());
  if (o.enable_sampling) {
    if (auto e = enable_sampling(o, **target); !e) return fail_verb(v, e.error());
    if (o.seconds == 0) o.seconds = kDefaultEnabledSeconds;
  }
  auto c = collect(o, **target);
  if (!c) return fail_verb(v, c.error());
  if (c->last.rate == 0 && c->last.records.empty())
    return fail_verb(v, nothing_recorded(o, **target));
  auto bytes = kFormats[o.format]({**target, *c});
  if (!bytes) return fail_verb(v, bytes.error());
  if (auto w = write_output(o.output, *bytes); !w) return fail_verb(v, w.error());
  summary(o, **target, *c);
  return kExitOk;
}

void add_contention_verb(CLI::App& app, VerbRun& run, ContentionKind kind,
                         const std::string& what, const std::string& rate_help) {
  auto o = std::make_shared<ContentionOptions>();
  o->kind = kind;
  auto* cmd = app.add_subcommand(contention_name(kind), what);
  add_profile_verb_options(*cmd, *o, kFormats.names(),
                           "the events of the next N seconds (a delta, as /debug/pprof/" +
                               std::string(contention_name(kind)) + "?seconds=N)");
  cmd->add_option("--enable-sampling", o->sampling_rate, rate_help)->expected(0, 1);
  cmd->callback([o, cmd, &run] {
    o->enable_sampling = cmd->count("--enable-sampling") > 0;
    run = [o] { return run_contention(*o); };
  });
}

}  // namespace

void add_block_verb(CLI::App& app, VerbRun& run) {
  add_contention_verb(app, run, ContentionKind::kBlock,
                      "the block profile from the target's memory (time blocked on channels, "
                      "selects, sync, by stack)",
                      "write runtime.blockprofilerate in the target first (RATE in ns as "
                      "runtime.SetBlockProfileRate, default 10000), goscry's only write to a "
                      "target, then show the events from then on");
}

void add_mutex_verb(CLI::App& app, VerbRun& run) {
  add_contention_verb(app, run, ContentionKind::kMutex,
                      "the mutex profile from the target's memory (time waiters waited on "
                      "sync.Mutex/RWMutex and runtime locks, by the unlocker's stack)",
                      "write runtime.mutexprofilerate in the target first (1 in RATE "
                      "contentions as runtime.SetMutexProfileFraction, default 10), goscry's "
                      "only write to a target, then show the events from then on");
}

}  // namespace goscry
