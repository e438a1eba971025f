// `goscry record --pid P`: a CPU profile of a running process from a cpu-clock perf event
// per CPU (bpf/cpu.bpf.c), written as pprof, an interactive SVG flame graph or folded
// stacks. Stacks are symbolized while the target lives (each new stack id once per second)
// so that a target exiting mid-record still gives named frames; Ctrl-C stops early and
// the file is still written.
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <tuple>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/bpf_loader.h"
#include "agent/cli.h"
#include "agent/cpu_profile.h"
#include "exporters/flamegraph.h"
#include "exporters/pprof.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {
namespace {

struct RecordOptions {
  int pid = 0;
  std::string duration = "30s";
  std::string output;
  std::string format;
  int hz = 99;
};

std::atomic<bool> interrupted{false};

// "30s", "500ms", "2m", "1h", or a number of seconds.
Result<std::chrono::milliseconds> parse_duration(const std::string& s) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    return fail("not a duration: " + s + " (use 30s, 500ms, 2m)");
  }
  std::string unit = s.substr(used);
  double ms = unit == "ms"                ? v
              : unit == "s" || unit == "" ? v * 1e3
              : unit == "m"               ? v * 60e3
              : unit == "h"               ? v * 3600e3
                                          : -1;
  if (ms <= 0) return fail("not a positive duration: " + s + " (use 30s, 500ms, 2m)");
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

// The format named by --format, else by the output's extension.
Result<std::string> output_format(const RecordOptions& o) {
  if (!o.format.empty()) {
    if (o.format == "pprof" || o.format == "svg" || o.format == "folded") return o.format;
    return fail("unknown --format " + o.format + " (pprof, svg or folded)");
  }
  auto ends = [&](const char* ext) { return o.output.ends_with(ext); };
  if (ends(".svg")) return std::string("svg");
  if (ends(".folded") || ends(".txt")) return std::string("folded");
  if (ends(".pb.gz") || ends(".pprof") || ends(".pb")) return std::string("pprof");
  return fail("cannot tell the format from " + o.output +
              " (.pb.gz, .svg or .folded; or give --format)");
}

bool target_alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Everything gathered: counts by key, the stacks of their ids, the symbols of their PCs.
class Recording {
 public:
  Recording(CpuSampler& sampler, ProcessSymbolizer* symbolizer)
      : sampler_(sampler), symbolizer_(symbolizer) {}

  // Reads and symbolizes the stacks of ids not seen yet.
  void resolve_new_stacks(const std::vector<goscry_cpu_key>& keys) {
    std::vector<std::uint64_t> lookups;
    for (const auto& k : keys)
      for (std::int32_t id : {k.user_stack_id, k.kernel_stack_id}) {
        if (id < 0 || stacks_.count(id)) continue;
        auto pcs = sampler_.stack(id);
        for (std::size_t i = 0; i < pcs.size(); ++i) {
          std::uint64_t a = lookup_address(pcs[i], i == 0);
          if (!symbols_.count(a)) lookups.push_back(a);
        }
        stacks_[id] = std::move(pcs);
      }
    if (lookups.empty() || !symbolizer_) return;
    auto resolved = symbolizer_->symbolize(lookups);
    for (std::size_t i = 0; i < lookups.size(); ++i) symbols_[lookups[i]] = resolved[i];
  }

  void add(const std::vector<CpuCount>& counts) {
    std::vector<goscry_cpu_key> keys;
    for (const auto& c : counts) {
      auto& n = counts_[key_of(c.key)];
      n.first = c.key;
      n.second += c.count;
      keys.push_back(c.key);
    }
    resolve_new_stacks(keys);
  }

  std::uint64_t total() const {
    std::uint64_t t = 0;
    for (const auto& [k, v] : counts_) t += v.second;
    return t;
  }

  // Leaf first: (pc, frames innermost first) of the kernel stack, then the user stack.
  using Pc = SampledPc;
  std::vector<Pc> leaf_first(const goscry_cpu_key& k) const {
    std::vector<Pc> out;
    for (std::int32_t id : {k.kernel_stack_id, k.user_stack_id}) {
      auto it = stacks_.find(id);
      if (it == stacks_.end()) continue;
      for (std::size_t i = 0; i < it->second.size(); ++i) {
        auto s = symbols_.find(lookup_address(it->second[i], i == 0));
        out.push_back({it->second[i], s == symbols_.end() ? nullptr : &s->second});
      }
    }
    return out;
  }

  const std::map<std::tuple<std::uint32_t, std::int32_t, std::int32_t>,
                 std::pair<goscry_cpu_key, std::uint64_t>>&
  counts() const {
    return counts_;
  }

 private:
  static std::uint64_t lookup_address(std::uint64_t pc, bool leaf) { return call_address(pc, leaf); }
  static std::tuple<std::uint32_t, std::int32_t, std::int32_t> key_of(const goscry_cpu_key& k) {
    return {k.tgid, k.user_stack_id, k.kernel_stack_id};
  }

  CpuSampler& sampler_;
  ProcessSymbolizer* symbolizer_;
  std::map<std::int32_t, std::vector<std::uint64_t>> stacks_;
  std::map<std::uint64_t, SymbolizedAddress> symbols_;
  std::map<std::tuple<std::uint32_t, std::int32_t, std::int32_t>,
           std::pair<goscry_cpu_key, std::uint64_t>>
      counts_;
};

// The frame names of one PC, innermost first, as the flame graphs show them.
std::vector<std::string> frame_names(const Recording::Pc& pc) {
  if (!pc.sym || pc.sym->frames.empty()) return {to_hex(pc.pc)};
  std::vector<std::string> names;
  for (const auto& f : pc.sym->frames)
    names.push_back(pc.sym->kind == AddressKind::Kernel ? f.function + " [k]" : f.function);
  return names;
}

std::vector<flame::StackCount> flame_stacks(const Recording& rec) {
  std::vector<flame::StackCount> out;
  for (const auto& [k, v] : rec.counts()) {
    flame::StackCount sc;
    for (const auto& pc : rec.leaf_first(v.first))
      for (auto& n : frame_names(pc)) sc.frames.push_back(std::move(n));
    if (sc.frames.empty()) sc.frames.push_back("[no stack]");
    std::reverse(sc.frames.begin(), sc.frames.end());
    sc.count = v.second;
    out.push_back(std::move(sc));
  }
  return out;
}

pprof::ProfileBuilder build_pprof(const Recording& rec, ProcessSymbolizer* symbolizer,
                                  const ModuleIds& module_ids, int hz,
                                  std::int64_t start_ns, std::int64_t duration_ns) {
  const std::int64_t period = 1'000'000'000LL / hz;
  std::vector<CpuSample> samples;
  for (const auto& [k, v] : rec.counts()) {
    const auto n = static_cast<std::int64_t>(v.second);
    samples.push_back({rec.leaf_first(v.first), n, n * period, {}});
  }
  return cpu_pprof(samples, symbolizer, module_ids, hz, start_ns, duration_ns);
}

Result<void> write_text(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return fail(path + ": cannot write: " + std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(path + ": cannot write: " + std::strerror(errno));
  return {};
}

int run_record(const RecordOptions& o) {
  auto duration = parse_duration(o.duration);
  if (!duration) return std::fprintf(stderr, "goscry record: %s\n", duration.error().message.c_str()), 2;
  RecordOptions opts = o;
  if (opts.output.empty()) opts.output = "goscry-" + std::to_string(o.pid) + ".pb.gz";
  auto format = output_format(opts);
  if (!format) return std::fprintf(stderr, "goscry record: %s\n", format.error().message.c_str()), 2;
  if (o.hz <= 0 || o.hz > 10000)
    return std::fprintf(stderr, "goscry record: --hz must be in 1..10000\n"), 2;
  if (o.hz > 250)
    std::fprintf(stderr,
                 "goscry record: warning: %d Hz costs the target noticeably more than the "
                 "default 99 Hz\n",
                 o.hz);
  if (!target_alive(o.pid))
    return std::fprintf(stderr, "goscry record: pid %d: no such process\n", o.pid), 1;

  auto symbolizer = ProcessSymbolizer::create(o.pid);
  if (!symbolizer)
    return std::fprintf(stderr, "goscry record: %s\n", symbolizer.error().message.c_str()), 1;
  // Open the modules now (and keep their build-ids): once the target is gone they cannot
  // be reached through it.
  const ModuleIds module_ids = read_module_ids(**symbolizer);

  auto sampler = CpuSampler::open(o.hz);
  if (!sampler) return std::fprintf(stderr, "goscry record: %s\n", sampler.error().message.c_str()), 1;
  if (auto r = (*sampler)->add_target(static_cast<std::uint32_t>(o.pid)); !r)
    return std::fprintf(stderr, "goscry record: %s\n", r.error().message.c_str()), 1;

  struct sigaction sa {};
  sa.sa_handler = [](int) { interrupted = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // The test waits for this exact line to read the target's CPU time at the start.
  std::fprintf(stderr, "goscry record: recording pid %d at %d Hz\n", o.pid, o.hz);
  std::fflush(stderr);
  Recording rec(**sampler, symbolizer->get());
  const bool tty = isatty(2);
  const auto start = std::chrono::steady_clock::now();
  const auto wall_start = std::chrono::system_clock::now();
  const auto deadline = start + *duration;
  auto next_tick = start + std::chrono::seconds(1);
  bool exited = false;
  while (!interrupted) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (!target_alive(o.pid)) {
      exited = true;
      break;
    }
    if (now >= next_tick) {
      next_tick += std::chrono::seconds(1);
      auto keys = (*sampler)->peek_keys();
      // Half full: take the counts out now rather than lose samples to a full map.
      if (keys.size() > CpuSampler::counts_capacity / 2)
        rec.add((*sampler)->drain_counts());
      else
        rec.resolve_new_stacks(keys);
      if (tty) {
        auto c = (*sampler)->counters();
        double secs = std::chrono::duration<double>(now - start).count();
        std::fprintf(stderr, "\rrecording pid %d: %.0f/%.0f s, %llu samples   ", o.pid, secs,
                     std::chrono::duration<double>(*duration).count(),
                     c ? static_cast<unsigned long long>((*c)[GOSCRY_CPU_SAMPLES]) : 0ULL);
      }
    }
    auto wake = std::min({deadline, next_tick, now + std::chrono::milliseconds(100)});
    std::this_thread::sleep_until(wake);  // a timer: nothing to poll for between ticks
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  (*sampler)->stop();
  if (tty) std::fputs("\n", stderr);
  // The end of the window the samples cover (the test reads the target's CPU time here).
  std::fputs("goscry record: sampling stopped\n", stderr);
  std::fflush(stderr);
  rec.add((*sampler)->drain_counts());

  auto counters = (*sampler)->counters();
  std::string lost;
  if (counters) {
    auto& c = *counters;
    if (c[GOSCRY_CPU_COUNTS_FULL] + c[GOSCRY_CPU_USER_EEXIST] + c[GOSCRY_CPU_KERNEL_EEXIST] +
            c[GOSCRY_CPU_USER_OTHER] + c[GOSCRY_CPU_KERNEL_OTHER] >
        0)
      lost = ", lost: " + std::to_string(c[GOSCRY_CPU_COUNTS_FULL]) + " samples, " +
             std::to_string(c[GOSCRY_CPU_USER_EEXIST] + c[GOSCRY_CPU_KERNEL_EEXIST]) +
             " stacks to collisions, " +
             std::to_string(c[GOSCRY_CPU_USER_OTHER] + c[GOSCRY_CPU_KERNEL_OTHER]) + " other";
  }

  const double secs = std::chrono::duration<double>(elapsed).count();
  Result<void> written;
  if (*format == "pprof") {
    const std::int64_t start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      wall_start.time_since_epoch())
                                      .count();
    auto b = build_pprof(rec, symbolizer->get(), module_ids, o.hz, start_ns,
                         std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    if (auto w = b.write_file(opts.output); !w) written = fail(w.error());
  } else if (*format == "folded") {
    written = write_text(opts.output, flame::folded(flame_stacks(rec)));
  } else {
    flame::SvgOptions so;
    so.title = "goscry record: pid " + std::to_string(o.pid);
    char sub[128];
    std::snprintf(sub, sizeof sub, "%.1f s at %d Hz, %llu samples", secs, o.hz,
                  static_cast<unsigned long long>(rec.total()));
    so.subtitle = sub;
    written = write_text(opts.output, flame::svg(flame_stacks(rec), so));
  }
  if (!written) return std::fprintf(stderr, "goscry record: %s\n", written.error().message.c_str()), 1;
  std::fprintf(stderr, "goscry record: %llu samples in %.1f s%s%s -> %s\n",
               static_cast<unsigned long long>(rec.total()), secs,
               exited ? " (the target exited)" : interrupted ? " (interrupted)" : "", lost.c_str(),
               opts.output.c_str());
  return 0;
}

}  // namespace

void add_record_verb(CLI::App& app, VerbRun& run) {
  auto opts = std::make_shared<RecordOptions>();
  auto* cmd = app.add_subcommand("record", "a CPU profile of a running process (pprof, svg, folded)");
  cmd->add_option("--pid,-p", opts->pid, "the process to profile")->required();
  cmd->add_option("-d,--duration", opts->duration, "how long (30s, 500ms, 2m); Ctrl-C stops early");
  cmd->add_option("-o,--output", opts->output, "the file to write (default goscry-PID.pb.gz)");
  cmd->add_option("--format", opts->format, "pprof|svg|folded (default: from -o's extension)");
  cmd->add_option("--hz", opts->hz, "samples per second per CPU (default 99)");
  cmd->callback([opts, &run] { run = [opts] { return run_record(*opts); }; });
}

}  // namespace goscry
