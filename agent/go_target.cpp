#include "agent/go_target.h"

#include <elf.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace goscry {
namespace {

// A process's executable and its load bias, from /proc alone. Kept to one small function
// on purpose: the full maps/process module (branch procfs) replaces it.
Result<GoTarget> open_pid_target(int pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  struct stat st;
  if (stat(proc.c_str(), &st) != 0) return fail("no process with pid " + std::to_string(pid));
  char link[PATH_MAX];
  ssize_t n = readlink((proc + "/exe").c_str(), link, sizeof link - 1);
  if (n < 0) return fail(proc + "/exe: cannot read the link (is the process yours, or are you root?)");
  std::string exe(link, n);
  // Through the process's root, so a binary inside a container is found; when that path is
  // gone (deleted or replaced on disk), /proc/PID/exe still opens the mapped file.
  std::string path = proc + "/root" + exe;
  if (access(path.c_str(), R_OK) != 0) path = proc + "/exe";
  auto bin = GoBinary::open(path);
  if (!bin) return std::unexpected(bin.error());
  GoTarget t{*bin, 0, pid};
  if (t.binary->elf().elf_type() != ET_DYN) return t;
  // PIE: bias = where the file's offset-0 mapping starts - the first PT_LOAD's page.
  std::uint64_t first_vaddr = UINT64_MAX;
  for (const auto& seg : t.binary->elf().segments())
    if (seg.type == PT_LOAD && seg.vaddr < first_vaddr) first_vaddr = seg.vaddr;
  std::ifstream maps(proc + "/maps");
  std::string deleted = exe + " (deleted)";
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, file;
    in >> range >> perms >> offset >> dev >> inode;
    std::getline(in >> std::ws, file);
    if ((file != exe && file != deleted) || std::stoull(offset, nullptr, 16) != 0) continue;
    std::uint64_t start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    t.bias = start - (first_vaddr & ~std::uint64_t(0xfff));
    return t;
  }
  return fail(proc + "/maps: " + exe + " is not mapped");
}

}  // namespace

Result<GoTarget> open_go_target(const TargetOptions& t) {
  if (t.pid > 0) return open_pid_target(t.pid);
  if (t.exe.empty()) return fail("give --pid or --exe");
  auto bin = GoBinary::open(t.exe);
  if (!bin) return std::unexpected(bin.error());
  return GoTarget{*bin, 0, 0};
}

}  // namespace goscry
