#include "symbolizer/buildinfo.h"

#include <cstring>
#include <string_view>

namespace goscry {
namespace {

constexpr std::string_view kMagic("\xff Go buildinf:", 14);
// Strings in a binary are short; anything larger is corruption.
constexpr std::uint64_t kMaxString = 1 << 20;

// Go 1.18+ (flags & 2): varint-length-prefixed strings follow the 32-byte header.
Result<std::string> inline_string(const ByteReader& r, std::uint64_t* off) {
  auto len = r.uvarint(off);
  if (!len) return std::unexpected(len.error());
  if (*len > kMaxString)
    return fail(ErrorKind::Unsupported, "string of " + std::to_string(*len) + " bytes");
  auto s = r.string(*off, *len);
  if (!s) return std::unexpected(s.error());
  *off += *len;
  return std::string(*s);
}

// Before: a pointer to a Go string header {data, len} in the image.
Result<std::string> pointer_string(const ElfFile& elf, std::uint64_t hdr_vaddr, unsigned p) {
  auto hdr = elf.read_vaddr(hdr_vaddr, 2 * p);
  if (!hdr) return std::unexpected(hdr.error());
  auto data = hdr->uptr(0, p);
  auto len = hdr->uptr(p, p);
  if (!data || !len) return fail(ErrorKind::Unsupported, "bad string header");
  if (*len > kMaxString)
    return fail(ErrorKind::Unsupported, "string of " + std::to_string(*len) + " bytes");
  if (*len == 0) return std::string();
  auto bytes = elf.read_vaddr(*data, *len);
  if (!bytes) return std::unexpected(bytes.error());
  auto s = bytes->string(0, *len);
  return std::string(*s);
}

// modinfo is wrapped in 16-byte sentinels (runtime/debug: infoStart/infoEnd).
std::string strip_sentinels(std::string m) {
  if (m.size() >= 33 && m[m.size() - 17] == '\n') return m.substr(16, m.size() - 32);
  return m;
}

void parse_modinfo(BuildInfo& bi) {
  std::string_view rest = bi.modinfo;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    auto tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    std::string_view key = line.substr(0, tab), val = line.substr(tab + 1);
    if (key == "path") {
      bi.path = val;
    } else if (key == "mod") {
      auto t2 = val.find('\t');
      bi.main_path = val.substr(0, t2);
      if (t2 != std::string_view::npos) {
        auto v = val.substr(t2 + 1);
        bi.main_version = v.substr(0, v.find('\t'));
      }
    } else if (key == "build") {
      auto eq = val.find('=');
      if (eq == std::string_view::npos) continue;
      bi.settings.emplace_back(std::string(val.substr(0, eq)), std::string(val.substr(eq + 1)));
    }
  }
}

}  // namespace

Result<int> go_minor_version(std::string_view v) {
  const std::string_view prefix = "go1.";
  if (!v.starts_with(prefix))
    return fail(ErrorKind::Unsupported, "unknown Go version \"" + std::string(v) + "\"");
  std::size_t i = prefix.size();
  int minor = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9' && minor < 1000) minor = minor * 10 + (v[i++] - '0');
  bool ends_well = i == v.size() || v[i] == '.' || v[i] == '-' || v[i] == ' ' ||
                   v.substr(i).starts_with("rc") || v.substr(i).starts_with("beta");
  if (i == prefix.size() || !ends_well)
    return fail(ErrorKind::Unsupported, "unknown Go version \"" + std::string(v) + "\"");
  return minor;
}

Result<BuildInfo> parse_buildinfo(ByteReader blob, const ElfFile& elf) {
  auto magic = blob.string(0, kMagic.size());
  if (!magic || *magic != kMagic) return fail(ErrorKind::Unsupported, ".go.buildinfo: bad magic");
  auto ptr = blob.u8(14), flags = blob.u8(15);
  if (!ptr || !flags) return fail(ErrorKind::Unsupported, ".go.buildinfo: truncated header");
  BuildInfo bi;
  if (*flags & 2) {
    std::uint64_t off = 32;
    auto version = inline_string(blob, &off);
    if (!version) return context(version.error(), ".go.buildinfo: version");
    auto mod = inline_string(blob, &off);
    if (!mod) return context(mod.error(), ".go.buildinfo: modinfo");
    bi.go_version = *version;
    bi.modinfo = strip_sentinels(*mod);
  } else {
    if (*flags & 1)
      return fail(ErrorKind::Unsupported, ".go.buildinfo: big-endian binaries are not supported");
    unsigned p = *ptr;
    if (p != 4 && p != 8)
      return fail(ErrorKind::Unsupported, ".go.buildinfo: bad pointer size " + std::to_string(p));
    auto vptr = blob.uptr(16, p), mptr = blob.uptr(16 + p, p);
    if (!vptr || !mptr) return fail(ErrorKind::Unsupported, ".go.buildinfo: truncated header");
    auto version = pointer_string(elf, *vptr, p);
    if (!version) return context(version.error(), ".go.buildinfo: version");
    auto mod = pointer_string(elf, *mptr, p);
    if (!mod) return context(mod.error(), ".go.buildinfo: modinfo");
    bi.go_version = *version;
    bi.modinfo = strip_sentinels(*mod);
  }
  parse_modinfo(bi);
  return bi;
}

Result<BuildInfo> read_buildinfo(const ElfFile& elf) {
  if (const ElfSection* s = elf.section(".go.buildinfo")) {
    auto data = elf.section_data(*s);
    if (!data) return context(data.error(), ".go.buildinfo");
    return parse_buildinfo(*data, elf);
  }
  // No section headers: the blob is 16-byte aligned in a data segment; search the file.
  auto file = elf.file_bytes().bytes();
  std::string_view hay(reinterpret_cast<const char*>(file.data()), file.size());
  for (std::size_t at = hay.find(kMagic); at != std::string_view::npos;
       at = hay.find(kMagic, at + 1)) {
    if (at % 16 != 0) continue;
    auto blob = elf.file_bytes().from(at);
    auto bi = parse_buildinfo(*blob, elf);
    if (bi) return bi;
  }
  return fail(ErrorKind::Unsupported, "no .go.buildinfo");
}

}  // namespace goscry
