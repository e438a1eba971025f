// `goscry heap --pid P`: the program's heap profile read from its own memory, as
// /debug/pprof/heap would answer without net/http/pprof; with --seconds N the allocations
// of the next N seconds, as /debug/pprof/allocs?seconds=N would.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "agent/base/exit_codes.h"
#include "agent/base/stop_signal.h"
#include "agent/cli/cli.h"
#include "agent/cli/profile_window.h"
#include "agent/cli/verb_output.h"
#include "agent/goruntime/heap_profile.h"
#include "agent/goruntime/profile_rate.h"
#include "exporters/json_report.h"
#include "symbolizer/buildinfo.h"  // go_minor_version
#include "symbolizer/output_file.h"

namespace goscry {

namespace {

struct HeapOptions : ProfileVerbOptions {
  bool enable_sampling = false;
  std::int64_t sampling_rate = 512 * 1024;  // Go's default MemProfileRate
};

struct HeapRead {
  HeapProfile profile;
  HeapRecords last;  // the last read, for its consistency and timing
};

Result<HeapRead> read_profile(const GoProcess& t) {
  auto r = read_heap_records(t);
  if (!r) return std::unexpected(r.error());
  return HeapRead{heap_profile(t, *r), std::move(*r)};
}

// The profile, or the delta of two reads `seconds` apart.
Result<HeapRead> collect(const GoProcess& t, int seconds) {
  auto first = read_profile(t);
  if (!first || seconds == 0) return first;
  install_stop_handlers();
  std::cerr << "goscry heap: pid " << t.pid() << ": " << first->profile.samples.size()
            << " stacks read; the allocations of the next " << seconds << " s follow" << std::endl;
  wait_window(t, seconds);
  auto second = read_profile(t);
  if (!second) return second;
  second->profile = heap_delta(first->profile, second->profile);
  second->profile.allocs = true;  // what /debug/pprof/allocs?seconds=N answers
  second->last.consistent = second->last.consistent && first->last.consistent;
  return second;
}

struct HeapReport {
  const GoProcess& target;
  const HeapRead& read;
};

Result<std::string> heap_json(const HeapReport& r) {
  return json_report::to_pretty(heap_profile_json(r.target, r.read.profile, r.read.last)) + "\n";
}

Result<std::string> heap_text(const HeapReport& r) { return heap_profile_text(r.read.profile); }

Result<std::string> heap_proto(const HeapReport& r) {
  return heap_profile_proto(r.target, r.read.profile);
}

// No default of its own: pprof with -o, text on stdout (run_heap).
const Formats<Result<std::string> (*)(const HeapReport&)> kFormats = {
    {"pprof", heap_proto}, {"text", heap_text}, {"json", heap_json}};

void summary(const HeapOptions& o, const GoProcess& t, const HeapRead& h) {
  std::cerr << "goscry heap: pid " << o.target.pid << " (" << t.go_version() << "): "
            << h.profile.samples.size() << " stacks";
  if (o.seconds) std::cerr << " allocating over " << double(h.profile.duration_nanos) / 1e9 << " s";
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.2f ms", double(h.last.read_ns) / 1e6);
  std::cerr << ", MemProfileRate " << h.profile.rate << ", read in " << ms << ", "
            << h.last.attempts << (h.last.attempts == 1 ? " attempt" : " attempts");
  if (!h.last.consistent)
    std::cerr << "; a GC published a cycle under every read, the last read is shown";
  std::cerr << "\n";
}

// Writes runtime.MemProfileRate (the only write goscry makes to a target) and says so.
Result<void> enable_sampling(const HeapOptions& o, const GoProcess& t) {
  auto address = mem_profile_rate_address(t);
  if (!address) return std::unexpected(address.error());
  auto now = t.process().read_u64(*address);
  if (!now)
    return context(now.error(), "pid " + std::to_string(t.pid()) + ": runtime.MemProfileRate");
  // From Go 1.25 nextSample is "never" (MaxInt64) while the rate is 0, and an mcache asks
  // again only when it samples: a rate written into a program started without profiling
  // would sample nothing (docs/go-runtime.md "The heap profile").
  if (*now == 0 && go_minor_version(t.go_version()).value_or(0) >= 25)
    return fail(ErrorKind::Unsupported,
                "pid " + std::to_string(t.pid()) +
                    ": runtime.MemProfileRate is 0 and " + t.go_version() +
                    " set every P's next heap sample to never, so a rate written now would "
                    "sample nothing; goscry writes nothing");
  auto w = write_profile_rate(t, *address, o.sampling_rate, "runtime.MemProfileRate");
  if (!w) return std::unexpected(w.error());
  std::cerr << "goscry heap: pid " << t.pid() << ": wrote runtime.MemProfileRate = "
            << o.sampling_rate << " at " << to_hex(w->address) << ", was " << w->before
            << "; it stays so, as if the program had set it" << std::endl;
  return {};
}

int run_heap(HeapOptions o) {
  if (!o.output.empty() && o.output != "-")
    if (auto w = check_output_path(o.output, "--output"); !w)
      return fail_verb("heap", w.error(), kExitBadInput);
  if (o.format.empty()) o.format = o.output.empty() || o.output == "-" ? "text" : "pprof";
  auto target = GoProcess::open(o.target.pid);
  if (!target) return fail_verb("heap", target.error());
  if (o.enable_sampling) {
    if (auto e = enable_sampling(o, **target); !e) return fail_verb("heap", e.error());
    if (o.seconds == 0) o.seconds = kDefaultEnabledSeconds;
  }
  auto h = collect(**target, o.seconds);
  if (!h) return fail_verb("heap", h.error());
  auto bytes = kFormats[o.format]({**target, *h});
  if (!bytes) return fail_verb("heap", bytes.error());
  if (auto w = write_output(o.output, *bytes); !w) return fail_verb("heap", w.error());
  summary(o, **target, *h);
  return kExitOk;
}

}  // namespace

void add_heap_verb(CLI::App& app, VerbRun& run) {
  auto o = std::make_shared<HeapOptions>();
  auto* cmd = app.add_subcommand(
      "heap", "the heap profile from the target's memory (in-use and allocated, by stack)");
  add_profile_verb_options(
      *cmd, *o, kFormats.names(),
      "the allocations of the next N seconds (a delta, as /debug/pprof/allocs?seconds=N)");
  cmd->add_option("--enable-sampling", o->sampling_rate,
                  "write runtime.MemProfileRate in the target first (RATE bytes, default "
                  "524288), goscry's only write to a target, then show the allocations from "
                  "then on")
      ->expected(0, 1)
      ->default_str("524288")
      ->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 40));
  cmd->callback([o, cmd, &run] {
    o->enable_sampling = cmd->count("--enable-sampling") > 0;
    run = [o] { return run_heap(*o); };
  });
}

}  // namespace goscry
