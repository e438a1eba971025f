// The one place in exporters/ that does I/O: it reads /proc/self, i.e. only our own
// process, which is what process_* metrics describe. It has no policy (no paths from
// users, no targets) and fails soft: an unreadable field is simply not exported.
#include "exporters/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace goscry::prometheus {
namespace {

std::optional<std::string> read_small_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// /proc/stat "btime": boot time in seconds since the epoch.
std::optional<double> boot_time_seconds() {
  auto stat = read_small_file("/proc/stat");
  if (!stat) return std::nullopt;
  size_t at = stat->find("\nbtime ");
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(stat->c_str() + at + 7, nullptr);
}

std::optional<double> count_open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double n = 0;
  while (dirent* e = readdir(dir))
    if (e->d_name[0] != '.') ++n;
  n -= 1;  // the descriptor of `dir` itself
  closedir(dir);
  return n;
}

// Fields of /proc/self/stat (proc(5)), counted from 1; the command name (field 2) may hold
// spaces and parentheses, so counting starts after its last ')'.
void read_stat(ProcessStats& s) {
  auto stat = read_small_file("/proc/self/stat");
  if (!stat) return;
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return;
  std::istringstream fields(stat->substr(close + 1));
  std::string field;
  // Field 3 (state) is the first after ')'.
  unsigned long long utime = 0, stime = 0, starttime = 0, vsize = 0, rss = 0;
  for (int index = 3; index <= 24 && fields >> field; ++index) {
    unsigned long long v = std::strtoull(field.c_str(), nullptr, 10);
    if (index == 14) utime = v;
    if (index == 15) stime = v;
    if (index == 22) starttime = v;
    if (index == 23) vsize = v;
    if (index == 24) {
      rss = v;
      long ticks = sysconf(_SC_CLK_TCK);
      long page = sysconf(_SC_PAGESIZE);
      if (ticks <= 0 || page <= 0) return;
      s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
      s.virtual_memory_bytes = static_cast<double>(vsize);
      s.resident_memory_bytes = static_cast<double>(rss) * static_cast<double>(page);
      if (auto boot = boot_time_seconds())
        s.start_time_seconds = *boot + static_cast<double>(starttime) / static_cast<double>(ticks);
    }
  }
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats s;
  read_stat(s);
  s.open_fds = count_open_fds();
  rlimit limit{};
  // An unlimited soft limit has no number to export.
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    s.max_fds = static_cast<double>(limit.rlim_cur);
  return s;
}

void register_process_metrics(Registry& registry) {
  Counter& cpu = registry.counter("process_cpu_seconds_total",
                                  "Total user and system CPU time spent in seconds.")
                     .with({});
  Gauge& rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
                   .with({});
  Gauge& vsize =
      registry.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").with({});
  Gauge& open = registry.gauge("process_open_fds", "Number of open file descriptors.").with({});
  Gauge& max = registry.gauge("process_max_fds", "Maximum number of open file descriptors.")
                   .with({});
  Gauge& start = registry
                     .gauge("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.")
                     .with({});
  registry.add_collector([&cpu, &rss, &vsize, &open, &max, &start] {
    ProcessStats s = read_process_stats();
    if (s.cpu_seconds) cpu.set(*s.cpu_seconds);
    if (s.resident_memory_bytes) rss.set(*s.resident_memory_bytes);
    if (s.virtual_memory_bytes) vsize.set(*s.virtual_memory_bytes);
    if (s.open_fds) open.set(*s.open_fds);
    if (s.max_fds) max.set(*s.max_fds);
    if (s.start_time_seconds) start.set(*s.start_time_seconds);
  });
}

}  // namespace goscry::prometheus
