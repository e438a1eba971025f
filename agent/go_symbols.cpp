#include "agent/go_symbols.h"

#include <elf.h>

#include <algorithm>

namespace goscry {

namespace {
constexpr std::uint64_t kMaxVersionLen = 256;
}

Result<std::string> read_go_version(const ElfFile& elf) {
  const ElfSection* s = elf.section(".go.buildinfo");
  if (!s) return fail(elf.path() + ": not a Go binary (no .go.buildinfo)");
  auto data = elf.section_data(*s);
  if (!data) return fail(elf.path() + ": .go.buildinfo: " + data.error().message);
  ByteReader r = *data;
  auto magic = r.string(0, 14);
  auto flags = r.u8(15);
  if (!magic || *magic != "\xff Go buildinf:" || !flags)
    return fail(elf.path() + ": .go.buildinfo: bad header");
  if ((*flags & 2) == 0)
    return fail(elf.path() + ": .go.buildinfo: Go before 1.18 (goscry knows 1.19-1.27)");
  std::uint64_t off = 32;
  auto len = r.uvarint(&off);
  if (!len || *len > kMaxVersionLen) return fail(elf.path() + ": .go.buildinfo: bad version");
  auto v = r.string(off, *len);
  if (!v) return fail(elf.path() + ": .go.buildinfo: " + v.error().message);
  return std::string(*v);
}

Result<std::shared_ptr<GoSymbols>> GoSymbols::open(std::shared_ptr<ElfFile> elf) {
  auto version = read_go_version(*elf);
  if (!version) return std::unexpected(version.error());
  auto out = std::make_shared<GoSymbols>();
  out->elf_ = std::move(elf);
  out->go_version_ = *version;
  for (const auto& s : out->elf_->symbols())
    if (s.type == STT_FUNC && s.size > 0)
      out->functions_.push_back({s.name, s.value, s.value + s.size});
  std::sort(out->functions_.begin(), out->functions_.end(),
            [](const CodeBounds& a, const CodeBounds& b) { return a.entry < b.entry; });
  return out;
}

std::optional<CodeBounds> GoSymbols::find_function(std::string_view name) const {
  for (const auto& f : functions_)
    if (f.name == name) return f;
  return std::nullopt;
}

std::optional<CodeBounds> GoSymbols::function_at(std::uint64_t pc) const {
  auto it = std::upper_bound(functions_.begin(), functions_.end(), pc,
                             [](std::uint64_t v, const CodeBounds& f) { return v < f.entry; });
  if (it == functions_.begin()) return std::nullopt;
  --it;
  if (pc >= it->end) return std::nullopt;
  return *it;
}

std::string GoSymbols::site_name(std::uint64_t gopc) const {
  // gopc is the return address of the call to newproc: the go statement is just before.
  auto f = function_at(gopc > 0 ? gopc - 1 : gopc);
  return f ? f->name : to_hex(gopc);
}

}  // namespace goscry
