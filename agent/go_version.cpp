#include "agent/go_version.h"

#include <elf.h>

#include <string_view>

namespace goscry {
namespace {

// runtime/debug.BuildInfo is preceded by this 14-byte magic, then pointer size and flags.
constexpr std::string_view kMagic = "\xff Go buildinf:";
constexpr unsigned kFlagsInlineStrings = 0x2;  // Go 1.18+: varint-prefixed strings at +32
constexpr std::size_t kHeaderSize = 32;

// Where the blob is: the .go.buildinfo section, else (section headers stripped) the start
// of the first writable PT_LOAD segment, searched at 16-byte alignment the way Go's own
// debug/buildinfo does, over a bounded window.
Result<ByteReader> find_blob(const ElfFile& elf) {
  if (const ElfSection* s = elf.section(".go.buildinfo")) return elf.section_data(*s);
  for (const ElfSegment& seg : elf.segments()) {
    if (seg.type != PT_LOAD || !(seg.flags & PF_W)) continue;
    auto data = elf.file_bytes().sub(seg.offset, std::min<std::uint64_t>(seg.filesz, 1 << 16));
    if (!data) return std::unexpected(data.error());
    for (std::uint64_t off = 0; off + kHeaderSize <= data->size(); off += 16) {
      auto head = data->string(off, kMagic.size());
      if (head && *head == kMagic) return data->from(off);
    }
    break;
  }
  return fail("no .go.buildinfo (not a Go binary?)");
}

}  // namespace

Result<std::string> go_version_of(const ElfFile& elf) {
  auto blob = find_blob(elf);
  if (!blob) return std::unexpected(blob.error());
  auto magic = blob->string(0, kMagic.size());
  if (!magic || *magic != kMagic) return fail(".go.buildinfo: bad magic (not a Go binary?)");
  auto flags = blob->u8(15);
  if (!flags) return std::unexpected(flags.error());
  if (!(*flags & kFlagsInlineStrings))
    return fail("Go build info of a toolchain older than 1.18 (not supported)");
  std::uint64_t off = kHeaderSize;
  auto len = blob->uvarint(&off);
  if (!len) return fail(".go.buildinfo: " + len.error().message);
  if (*len == 0 || *len > 256) return fail(".go.buildinfo: implausible version length");
  auto version = blob->string(off, *len);
  if (!version) return fail(".go.buildinfo: " + version.error().message);
  return std::string(*version);
}

Result<std::string> go_version_of_file(const std::string& path) {
  auto elf = ElfFile::open(path);
  if (!elf) return std::unexpected(elf.error());
  return context(go_version_of(**elf), path);
}

}  // namespace goscry
