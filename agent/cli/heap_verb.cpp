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
#include "agent/cli/verb_output.h"
#include "agent/goruntime/heap_profile.h"
#include "exporters/json_report.h"
#include "symbolizer/output_file.h"

namespace goscry {

namespace {

struct HeapOptions {
  TargetOptions target;
  std::string format;  // pprof | text | json; default pprof with -o, text on stdout
  std::string output;
  int seconds = 0;
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

// Sleeps `seconds`, less when a stop signal comes or the target exits (then the second
// read says so at once, not at the end of the window).
void wait_window(const GoProcess& t, int seconds) {
  using namespace std::chrono;
  const auto end = steady_clock::now() + std::chrono::seconds(seconds);
  for (auto now = steady_clock::now(); now < end && !stop_requested() && t.process().alive();
       now = steady_clock::now()) {
    const auto step = std::min<nanoseconds>(end - now, milliseconds(200));
    timespec ts{time_t(step.count() / 1'000'000'000), long(step.count() % 1'000'000'000)};
    nanosleep(&ts, nullptr);
  }
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

int run_heap(HeapOptions o) {
  if (!o.output.empty() && o.output != "-")
    if (auto w = check_output_path(o.output, "--output"); !w)
      return fail_verb("heap", w.error(), kExitBadInput);
  if (o.format.empty()) o.format = o.output.empty() || o.output == "-" ? "text" : "pprof";
  auto target = GoProcess::open(o.target.pid);
  if (!target) return fail_verb("heap", target.error());
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
  add_target_options(*cmd, o->target, false);
  cmd->get_option("--pid")->required();
  add_format_option(*cmd, o->format, kFormats.names(),
                    "pprof (profile.proto, gzipped), text (Go's debug=1) or json; default pprof "
                    "with -o, text on stdout");
  cmd->add_option("-o,--output", o->output, "write to FILE instead of stdout");
  cmd->add_option("--seconds", o->seconds,
                  "the allocations of the next N seconds (a delta, as "
                  "/debug/pprof/allocs?seconds=N)")
      ->check(CLI::Range(1, 86400));
  cmd->callback([o, &run] { run = [o] { return run_heap(*o); }; });
}

}  // namespace goscry
