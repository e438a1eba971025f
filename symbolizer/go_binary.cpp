#include "symbolizer/go_binary.h"

#include <elf.h>

#include "symbolizer/moduledata.h"

namespace goscry {
namespace {

struct TableLocation {
  ByteReader bytes;
  std::uint64_t vaddr = 0;
};

// The table by section name: internal linking names it .gopclntab; external linking may
// fold it into .data.rel.ro.gopclntab.
std::optional<Result<TableLocation>> pclntab_by_section(const ElfFile& elf) {
  for (const char* name : {".gopclntab", ".data.rel.ro.gopclntab"}) {
    const ElfSection* s = elf.section(name);
    if (s == nullptr) continue;
    auto data = elf.section_data(*s);
    if (!data) return Result<TableLocation>(std::unexpected(data.error()));
    return Result<TableLocation>(TableLocation{*data, s->addr});
  }
  return std::nullopt;
}

// Without such a section (no section headers, or the table inside another section), look
// for a header that reads as one — known magic, sane fields, a table that fits — in the
// loaded, non-executable parts of the file.
std::optional<TableLocation> pclntab_by_magic(const ElfFile& elf) {
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || (seg.flags & PF_X) || seg.filesz == 0) continue;
    auto data = elf.file_bytes().sub(seg.offset, seg.filesz);
    if (!data) continue;
    for (std::uint64_t off = 0; off + 64 <= data->size(); off += 8) {
      auto m = data->u32(off);
      if (!m || (*m | 0xf) != 0xffffffff || (*m & 0xf) == 0xf) continue;
      if (*m != 0xfffffffb && *m != 0xfffffffa && *m != 0xfffffff0 && *m != 0xfffffff1) continue;
      auto table = data->from(off);
      if (read_pclntab_header(*table)) return TableLocation{*table, seg.vaddr + off};
    }
  }
  return std::nullopt;
}

// The address of go:func.* from the symbol table, when moduledata is not found.
std::uint64_t gofunc_symbol(const ElfFile& elf) {
  for (const auto& s : elf.symbols())
    if (s.name == "go:func.*" || s.name == "go.func.*") return s.value;
  return 0;
}

}  // namespace

Result<std::shared_ptr<GoBinary>> GoBinary::open(const std::string& path) {
  auto elf = ElfFile::open(path);
  if (!elf) return std::unexpected(elf.error());
  return from_elf(*elf);
}

namespace {

// GOARCH of an ELF machine, for the refusal of programs goscry cannot read.
std::string goarch_of(const ElfFile& elf) {
  switch (elf.machine()) {
    case EM_386: return "386";
    case EM_X86_64: return elf.ptr_size() == 8 ? "amd64" : "amd64p32";
    case EM_ARM: return "arm";
    case EM_AARCH64: return "arm64";
    case EM_RISCV: return "riscv64";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390x";
    case EM_MIPS: return elf.ptr_size() == 8 ? "mips64" : "mips";
    case 258: return "loong64";  // EM_LOONGARCH, newer than some elf.h
  }
  return "machine " + std::to_string(elf.machine());
}

#if defined(__x86_64__)
constexpr std::uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr std::uint16_t kHostMachine = EM_AARCH64;
#endif

}  // namespace

Result<void> check_architecture(const ElfFile& elf) {
  if (elf.machine() == kHostMachine && elf.ptr_size() == 8) return {};
  const std::string arch = goarch_of(elf);
  return fail(ErrorKind::Unsupported,
              elf.path() + ": a GOARCH=" + arch + (elf.ptr_size() == 4 ? " (32-bit)" : "") +
                  " program; goscry reads 64-bit Go programs of its own architecture (" +
                  (kHostMachine == EM_X86_64 ? "amd64" : "arm64") + ") only");
}

namespace {

Result<Isa> readable_isa(const ElfFile& elf) {
  if (auto isa = isa_of(elf)) return *isa;
  // Neither amd64 nor arm64: the sentence of a process goscry cannot read says what it is.
  if (auto arch = check_architecture(elf); !arch) return std::unexpected(arch.error());
  return fail(ErrorKind::Unsupported, elf.path() + ": an ELF file of machine " +
                                          std::to_string(elf.machine()) + ", not amd64 or arm64");
}

}  // namespace

Result<std::shared_ptr<GoBinary>> GoBinary::from_elf(std::shared_ptr<const ElfFile> elf) {
  const std::string& path = elf->path();
  auto isa = readable_isa(*elf);
  if (!isa) return std::unexpected(isa.error());
  std::shared_ptr<GoBinary> b(new GoBinary());
  b->elf_ = elf;
  b->isa_ = *isa;
  auto bi = read_buildinfo(*elf);
  if (bi) b->build_info_ = std::move(*bi);

  std::optional<TableLocation> loc;
  if (auto by_name = pclntab_by_section(*elf)) {
    if (!*by_name) return context(by_name->error(), path + ": .gopclntab");
    loc = **by_name;
  } else {
    loc = pclntab_by_magic(*elf);
  }
  if (!loc) {
    if (!b->build_info_)
      return fail(ErrorKind::Unsupported,
                  path + ": not a Go binary (no .gopclntab, no .go.buildinfo)");
    return fail(ErrorKind::Unsupported,
                path + ": no .gopclntab (a Go binary without its function table)");
  }
  b->pclntab_vaddr_ = loc->vaddr;

  auto header = read_pclntab_header(loc->bytes);
  if (!header) return context(header.error(), path + ": .gopclntab");
  PclntabContext ctx;
  if (header->version != PclntabVersion::Go12) {
    auto md = find_moduledata(*elf, loc->vaddr, *header, b->go_minor());
    if (md) {
      ctx.text_start = md->text;
      ctx.gofunc = md->gofunc;
    } else {
      // Last resorts: the header's textStart (1.18-1.25), else .text (right for internal
      // linking); go:func.* from the symbol table.
      const ElfSection* text = elf->section(".text");
      if (header->text_start == 0 && text) ctx.text_start = text->addr;
      ctx.gofunc = gofunc_symbol(*elf);
    }
  }
  const ElfFile* raw = elf.get();
  ctx.read_image = [raw](std::uint64_t vaddr, std::uint64_t len) {
    return raw->read_vaddr(vaddr, len);
  };
  auto table = Pclntab::parse(loc->bytes, std::move(ctx));
  if (!table) return context(table.error(), path + ": .gopclntab");
  b->pclntab_ = std::move(*table);
  b->wrapper_ids_ = read_wrapper_func_ids(*b->pclntab_);
  return b;
}

std::string GoBinary::pclntab_format() const {
  return std::string(pclntab_version_name(pclntab_->header().version));
}

FuncBounds GoBinary::bounds(std::size_t i) const {
  return FuncBounds{std::string(pclntab_->name(i)), pclntab_->entry(i), pclntab_->end(i)};
}

std::optional<FuncBounds> GoBinary::find_function(std::string_view name) const {
  auto i = pclntab_->find(name);
  if (!i) return std::nullopt;
  return bounds(*i);
}

std::optional<FuncBounds> GoBinary::function_at(std::uint64_t pc) const {
  auto i = pclntab_->function_index(pc);
  if (!i) return std::nullopt;
  return bounds(*i);
}

std::vector<Frame> GoBinary::frames(std::uint64_t pc) const {
  thread_local std::vector<PclntabFrame> raw;
  raw.clear();
  pclntab_->frames(pc, raw);
  std::vector<Frame> out;
  out.reserve(raw.size());
  for (const auto& f : raw)
    out.push_back(Frame{std::string(f.function), std::string(f.file), f.line, f.inlined,
                          wrapper_ids_.kind(f.func_id)});
  return out;
}

std::vector<std::vector<Frame>> GoBinary::frames_batch(std::span<const std::uint64_t> pcs) const {
  PclntabBatch batch;
  pclntab_->frames_batch(pcs, batch);
  std::vector<std::vector<Frame>> out(pcs.size());
  for (std::size_t i = 0; i < pcs.size(); ++i) {
    out[i].reserve(batch.count[i]);
    for (const auto& f : batch.at(i))
      out[i].push_back(Frame{std::string(f.function), std::string(f.file), f.line, f.inlined,
                          wrapper_ids_.kind(f.func_id)});
  }
  return out;
}

}  // namespace goscry
