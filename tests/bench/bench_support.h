// What the goscry benchmarks share: the local toolchain's fixtures, goscry attached the
// way a user attaches it (`goscry top` as a separate process), the bare-uprobe floor, and
// goscry's own CPU time and peak RSS from /proc.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/probes/attacher.h"
#include "agent/probes/bpf_loader.h"
#include "symbolizer/go_binary.h"
#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"

namespace goscry::bench {

// The plain fixture `name` built by the installed Go (the newest in the default run).
inline std::string fixture(const std::string& name) {
  auto f = testing::newest_fixture(name);
  if (!f) throw std::runtime_error("no fixture " + name + " (build the fixtures)");
  return f->path;
}

using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// CPU time of this process (user + system, the kernel's copying of the target's memory
// included): the figure that does not depend on how busy the machine is.
inline double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// `goscry top` watching pid, its reports thrown away; returns once it is attached.
inline std::unique_ptr<testing::ChildProcess> start_goscry(int pid) {
  auto g = std::make_unique<testing::ChildProcess>(std::vector<std::string>{
      testing::goscry_binary(), "top", "--pid", std::to_string(pid), "--interval", "1s",
      "--format", "json"});
  auto line = g->read_err_line();
  if (!line || line->find("watching pid") == std::string::npos)
    throw std::runtime_error("goscry did not attach: " + line.value_or("") +
                             g->rest_of_stderr());
  return g;
}

// goscry_noop, the empty BPF program, attached at each of `points`.
struct Floor {
  std::unique_ptr<BpfLoader> loader;
  std::vector<UprobeLink> links;
};
inline std::unique_ptr<Floor> attach_noop(const std::vector<UprobeRequest>& points) {
  auto f = std::make_unique<Floor>();
  auto loader = BpfLoader::open();
  if (!loader) throw std::runtime_error(loader.error().message);
  f->loader = std::move(*loader);
  for (auto req : points) {
    req.program = RuntimeProgram::Noop;
    auto link = f->loader->attach_uprobe(req);
    if (!link) throw std::runtime_error(link.error().message);
    f->links.push_back(std::move(*link));
  }
  return f;
}

// The floor: goscry_noop attached at every point goscry probes in process pid.
inline std::unique_ptr<Floor> attach_floor(int pid, const std::string& path) {
  auto bin = GoBinary::open(path);
  if (!bin) throw std::runtime_error(bin.error().message);
  const std::string exe = "/proc/" + std::to_string(pid) + "/exe";
  auto plan = plan_probes(**bin, exe, pid, (*bin)->go_version());
  if (!plan) throw std::runtime_error(plan.error().message);
  return attach_noop(plan->uprobes);
}

// utime + stime of a process, in seconds.
inline double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(s.substr(s.rfind(')') + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// VmHWM (peak resident set) in KiB.
inline std::uint64_t peak_rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6));
  return 0;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The number after `key` in the lines of `out` ("ns_per_goroutine 693.2").
inline double value_of(const std::string& out, const std::string& key) {
  auto at = out.find(key + " ");
  if (at == std::string::npos) throw std::runtime_error("no " + key + " in: " + out);
  return std::stod(out.substr(at + key.size() + 1));
}

// One run of the spawnbench fixture (SPAWNBENCH_N goroutines created and ended as fast as
// it can): `attach(pid)` runs once it is ready and before its first goroutine, and what it
// returns (whatever watches the run) lives until the run's figure is in. Returns that
// figure, ns per goroutine.
inline double spawnbench_ns_per_goroutine(
    const std::string& path, const std::function<std::shared_ptr<void>(int pid)>& attach) {
  testing::ChildProcess target({path}, {"SPAWNBENCH_N=200000"});
  if (target.read_line() != "ready") throw std::runtime_error("spawnbench did not start");
  const auto watcher = attach(target.pid());
  target.write_line();
  auto line = target.read_line(600000);
  if (!line) throw std::runtime_error("spawnbench printed nothing");
  return value_of(*line, "ns_per_goroutine");
}

}  // namespace goscry::bench
