#include "agent/goruntime/go_plugins.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string_view>
#include <utility>

#include "agent/goruntime/go_version.h"
#include "symbolizer/proc_maps.h"

namespace goscry {
namespace {

// The "dev" field /proc/PID/maps prints for a file on device `d` ("fd:01", "00:2c").
std::string maps_dev(dev_t d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02x:%02x", major(d), minor(d));
  return buf;
}

// The executable's path as /proc/PID/maps names it, without " (deleted)"; empty if unknown.
std::string exe_path(const std::string& exe_link) {
  char buf[4096];
  ssize_t n = ::readlink(exe_link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string path(buf, static_cast<std::size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  return path;
}

}  // namespace

// Why the mappings and not the runtime's module list (firstmoduledata.next, which
// plugin.Open links each plugin's moduledata into): moduledata's layout changes from one Go
// version to the next, and a stripped binary has no symbol for firstmoduledata, while every
// Go linker 1.19..1.27 writes its build ID note (.note.go.buildid) into a plugin, and a
// loaded plugin stays mapped until the process ends (plugins cannot be unloaded). The note,
// not .go.buildinfo: Go 1.19's plugins have no .go.buildinfo (seen with the goplugin
// fixture); build info still counts, for a file whose note is gone. A c-shared
// Go library dlopen'ed by the program has build info too and is refused alike: its code and
// its own runtime are just as unread.
// Each file costs one open, its section headers and notes and at most 64 KiB, and
// is looked at once however many mappings it has; the main executable is told apart by
// path, and by device and inode, which hold for a renamed executable too (on overlayfs the
// two sides may name different devices: the path then still matches).
Result<std::optional<std::string>> loaded_go_plugin(pid_t pid) {
  auto maps = ProcMaps::read(pid);
  if (!maps) return std::unexpected(maps.error());
  struct stat exe {};
  const std::string exe_link = "/proc/" + std::to_string(pid) + "/exe";
  const bool have_exe = ::stat(exe_link.c_str(), &exe) == 0;
  const std::string exe_at = exe_path(exe_link);
  std::set<std::pair<std::string, std::uint64_t>> seen;
  for (const Mapping& m : maps->mappings()) {
    if (!m.file_backed() || !m.executable()) continue;
    if (!exe_at.empty() && m.file_path() == exe_at) continue;
    if (have_exe && m.inode == exe.st_ino && m.dev == maps_dev(exe.st_dev)) continue;
    if (!seen.emplace(m.dev, m.inode).second) continue;
    // A file that cannot be opened (gone since, another mount namespace without access) is
    // not known to be Go; the reads that follow would not be misled by what they cannot see
    // either way, and libc and friends are never Go.
    auto elf = ElfFile::open(maps->host_path(m));
    if (elf && ((*elf)->go_build_id() || has_go_buildinfo(**elf))) return m.file_path();
  }
  return std::nullopt;
}

Result<void> refuse_go_plugins(pid_t pid) {
  auto plugin = loaded_go_plugin(pid);
  if (!plugin) return std::unexpected(plugin.error());
  if (!*plugin) return {};
  return fail(ErrorKind::Unsupported,
              "pid " + std::to_string(pid) + " has loaded the Go plugin " + **plugin +
                  ": goscry does not read plugins' code and goroutines yet");
}

}  // namespace goscry
