// A live process's address space as /proc/PID/maps describes it, and the step from a
// runtime address to the module that holds it: PIE executables and shared libraries are
// loaded at a bias, so an address is turned into a file offset through its mapping, then
// into the ELF virtual address the symbol tables use through the file's PT_LOAD segments.
// Files are opened through /proc/PID/root so that a process in another mount namespace (a
// container) is read from its own file system, not ours.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

struct Mapping {
  std::uint64_t start = 0;
  std::uint64_t end = 0;  // exclusive
  std::string perms;      // "r-xp"
  std::uint64_t offset = 0;
  std::string dev;  // "fd:01"
  std::uint64_t inode = 0;
  std::string path;  // "", "[heap]", "/usr/lib/libc.so.6", "/tmp/x (deleted)"

  bool contains(std::uint64_t addr) const { return addr >= start && addr < end; }
  bool readable() const { return !perms.empty() && perms[0] == 'r'; }
  bool executable() const { return perms.size() > 2 && perms[2] == 'x'; }
  // Backed by a file (inode != 0), as opposed to anonymous memory and [vdso], [stack]...
  bool file_backed() const { return inode != 0 && !path.empty() && path[0] == '/'; }
  bool pseudo() const { return !path.empty() && path[0] == '['; }  // [vdso], [heap], [stack]
  bool deleted() const;
  // The path without a trailing " (deleted)".
  std::string file_path() const;
};

// Where an address lies in a file-backed module.
struct ModuleAddress {
  const Mapping* mapping = nullptr;
  std::string path;  // the module's path inside the target's mount namespace
  std::uint64_t file_offset = 0;
  std::optional<std::uint64_t> elf_vaddr;  // set when an ElfFile was given
};

class ProcMaps {
 public:
  // Reads /proc/PID/maps now; the result is a snapshot.
  static Result<ProcMaps> read(pid_t pid);
  // Parses the text of a maps file (tests, fuzzing); `pid` is used for file paths.
  static Result<ProcMaps> parse(const std::string& text, pid_t pid);

  pid_t pid() const { return pid_; }
  const std::vector<Mapping>& mappings() const { return mappings_; }
  // The mapping that holds addr, or null (binary search: mappings are sorted and disjoint).
  const Mapping* find(std::uint64_t addr) const;

  // The module and file offset of addr; fails for an unmapped address or one in anonymous
  // memory or a pseudo-mapping. With `elf` (the module's file) also the ELF vaddr.
  Result<ModuleAddress> module_address(std::uint64_t addr, const ElfFile* elf = nullptr) const;

  // The path to open to read the mapping's file from our side: /proc/PID/map_files/S-E for
  // a deleted file (the only way to reach it), else /proc/PID/root/<path>.
  std::string host_path(const Mapping& m) const;

  // Every mapping of the file at `path` (as the target sees it), in address order.
  std::vector<const Mapping*> mappings_of(const std::string& path) const;

 private:
  pid_t pid_ = 0;
  std::vector<Mapping> mappings_;
};

// The ELF vaddr of a file offset inside mapping `m`, through the file's PT_LOAD segments.
// Two segments may share a file page (the linker packs text and data), so the segment
// whose permissions match the mapping wins.
std::optional<std::uint64_t> file_offset_to_vaddr(const ElfFile& elf, const Mapping& m,
                                                  std::uint64_t offset);

// "/proc/PID/root" + path: the target's file system seen from ours.
std::string proc_root_path(pid_t pid, const std::string& path);

}  // namespace goscry
