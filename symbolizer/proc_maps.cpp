#include "symbolizer/proc_maps.h"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

#include "symbolizer/proc_file.h"

namespace goscry {
namespace {

constexpr std::string_view kDeleted = " (deleted)";

bool parse_hex(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_dec(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, 10);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// One line: "start-end perms offset dev inode [path]"; the path may contain spaces.
Result<Mapping> parse_line(std::string_view line) {
  Mapping m;
  std::string_view range = next_field(&line);
  std::size_t dash = range.find('-');
  if (dash == std::string_view::npos || !parse_hex(range.substr(0, dash), &m.start) ||
      !parse_hex(range.substr(dash + 1), &m.end) || m.end < m.start)
    return fail(ErrorKind::Io, "bad address range");
  m.perms = std::string(next_field(&line));
  if (m.perms.size() != 4) return fail(ErrorKind::Io, "bad permissions");
  if (!parse_hex(next_field(&line), &m.offset)) return fail(ErrorKind::Io, "bad offset");
  m.dev = std::string(next_field(&line));
  if (!parse_dec(next_field(&line), &m.inode)) return fail(ErrorKind::Io, "bad inode");
  std::size_t b = line.find_first_not_of(' ');
  if (b != std::string_view::npos) m.path = std::string(line.substr(b));
  return m;
}

}  // namespace

bool Mapping::deleted() const { return path.ends_with(kDeleted); }

std::string Mapping::file_path() const {
  return deleted() ? path.substr(0, path.size() - kDeleted.size()) : path;
}

std::string proc_root_path(pid_t pid, const std::string& path) {
  return "/proc/" + std::to_string(pid) + "/root" + path;
}

Result<ProcMaps> ProcMaps::read(pid_t pid) {
  std::string file = "/proc/" + std::to_string(pid) + "/maps";
  auto text = read_proc_file(file);
  if (!text) {
    const int err = text.error().error_number;
    if (err == ENOENT || err == ESRCH) return std::unexpected(why_no_process(pid));
    if (err == EACCES || err == EPERM) return std::unexpected(access_denied(pid, "maps", err));
    return std::unexpected(text.error());
  }
  auto maps = parse(*text, pid);
  if (!maps) return context(maps.error(), file);
  // An exited process (or a kernel thread) leaves an empty maps file.
  if (maps->mappings_.empty())
    return fail(ErrorKind::TargetGone,
                file + ": no mappings (process " + std::to_string(pid) + " exited?)");
  return maps;
}

Result<ProcMaps> ProcMaps::parse(const std::string& text, pid_t pid) {
  ProcMaps maps;
  maps.pid_ = pid;
  std::string_view rest = text;
  std::size_t line_no = 0;
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    ++line_no;
    if (line.empty()) continue;
    auto m = parse_line(line);
    if (!m) return context(m.error(), "line " + std::to_string(line_no));
    maps.mappings_.push_back(std::move(*m));
  }
  // The kernel writes them sorted; sorting again keeps find() correct for any input.
  std::sort(maps.mappings_.begin(), maps.mappings_.end(),
            [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  return maps;
}

const Mapping* ProcMaps::find(std::uint64_t addr) const {
  auto it = std::upper_bound(mappings_.begin(), mappings_.end(), addr,
                             [](std::uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == mappings_.begin()) return nullptr;
  --it;
  return it->contains(addr) ? &*it : nullptr;
}

std::optional<std::uint64_t> file_offset_to_vaddr(const ElfFile& elf, const Mapping& m,
                                                  std::uint64_t offset) {
  std::optional<std::uint64_t> any;
  for (const auto& p : elf.segments()) {
    if (p.type != PT_LOAD) continue;
    // Bytes past filesz but in the mapped page still belong to the segment (.bss start).
    std::uint64_t span = std::max(p.filesz, p.memsz);
    if (offset < p.offset || offset - p.offset >= span) continue;
    std::uint64_t vaddr = p.vaddr + (offset - p.offset);
    bool same_perms = ((p.flags & PF_X) != 0) == m.executable() &&
                      ((p.flags & PF_W) != 0) == (m.perms.size() > 1 && m.perms[1] == 'w');
    if (same_perms) return vaddr;
    if (!any) any = vaddr;
  }
  return any;
}

Result<ModuleAddress> ProcMaps::module_address(std::uint64_t addr, const ElfFile* elf) const {
  const Mapping* m = find(addr);
  if (m == nullptr)
    return fail(ErrorKind::NotFound,
                "address " + to_hex(addr) + " is not mapped in process " + std::to_string(pid_));
  if (!m->file_backed()) {
    std::string what = m->path.empty() ? "anonymous memory" : m->path;
    return fail(ErrorKind::NotFound,
                "address " + to_hex(addr) + " is in " + what + ", not in a file");
  }
  ModuleAddress out;
  out.mapping = m;
  out.path = m->file_path();
  out.file_offset = m->offset + (addr - m->start);
  if (elf != nullptr) {
    out.elf_vaddr = file_offset_to_vaddr(*elf, *m, out.file_offset);
    if (!out.elf_vaddr)
      return fail(ErrorKind::Unsupported, out.path + ": file offset " + to_hex(out.file_offset) +
                                              " is in no loadable segment");
  }
  return out;
}

std::string ProcMaps::host_path(const Mapping& m) const {
  if (m.deleted()) {
    char range[64];
    std::snprintf(range, sizeof range, "%llx-%llx", static_cast<unsigned long long>(m.start),
                  static_cast<unsigned long long>(m.end));
    std::string map_file = "/proc/" + std::to_string(pid_) + "/map_files/" + range;
    // map_files/ needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE from Linux 5.9). Without
    // it the old path is all we have: opening it then fails with a message naming it.
    if (::access(map_file.c_str(), R_OK) == 0) return map_file;
    return proc_root_path(pid_, m.file_path());
  }
  return proc_root_path(pid_, m.path);
}

std::vector<const Mapping*> ProcMaps::mappings_of(const std::string& path) const {
  std::vector<const Mapping*> out;
  for (const auto& m : mappings_)
    if (m.file_backed() && m.file_path() == path) out.push_back(&m);
  return out;
}

}  // namespace goscry
