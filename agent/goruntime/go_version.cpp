#include "agent/goruntime/go_version.h"

#include <elf.h>

#include <string_view>

#include "symbolizer/buildinfo.h"
#include "symbolizer/go_binary.h"

namespace goscry {
namespace {

constexpr std::string_view kMagic = "\xff Go buildinf:";

}  // namespace

// Whether the binary has Go build info, decided cheaply: the .go.buildinfo section, else
// (section headers stripped) the magic at a 16-byte boundary in the first 64 KiB of the
// first writable PT_LOAD segment, where the Go linker puts it. `--all` asks this of every
// process on the host, so it must not read whole binaries: symbolizer's read_buildinfo
// searches the whole file when there is no section, which is right for one binary a user
// names and too much for every binary of a host.
bool has_go_buildinfo(const ElfFile& elf) {
  if (elf.section(".go.buildinfo")) return true;
  for (const ElfSegment& seg : elf.segments()) {
    if (seg.type != PT_LOAD || !(seg.flags & PF_W)) continue;
    auto data = elf.file_bytes().sub(seg.offset, std::min<std::uint64_t>(seg.filesz, 1 << 16));
    if (!data) return false;
    for (std::uint64_t off = 0; off + 32 <= data->size(); off += 16) {
      auto head = data->string(off, kMagic.size());
      if (head && *head == kMagic) return true;
    }
    return false;
  }
  return false;
}

Result<std::string> go_version_of(const ElfFile& elf) {
  if (!has_go_buildinfo(elf))
    return fail(ErrorKind::Unsupported, "no .go.buildinfo (not a Go binary?)");
  if (auto arch = check_architecture(elf); !arch) return std::unexpected(arch.error());
  auto bi = read_buildinfo(elf);
  if (!bi) return std::unexpected(bi.error());
  return bi->go_version;
}

Result<std::string> go_version_of_file(const std::string& path) {
  auto elf = ElfFile::open(path);
  if (!elf) return std::unexpected(elf.error());
  return context(go_version_of(**elf), path);
}

}  // namespace goscry
