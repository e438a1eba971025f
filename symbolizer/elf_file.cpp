#include "symbolizer/elf_file.h"

#include "symbolizer/input_file.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

namespace goscry {
namespace {

// A decompressed section may not exceed this, nor 1000x its compressed size: a hostile
// header must not make us allocate gigabytes.
constexpr std::uint64_t kMaxDecompressed = 1ull << 30;

Elf* as_elf(void* p) { return static_cast<Elf*>(p); }

void init_libelf() {
  static std::once_flag once;
  std::call_once(once, [] { elf_version(EV_CURRENT); });
}

Result<std::vector<std::uint8_t>> inflate_exact(ByteReader in, std::uint64_t out_size) {
  if (out_size > kMaxDecompressed || out_size > 1000 * (in.size() + 1))
    return fail(ErrorKind::Unsupported,
                "compressed section claims an implausible size of " + std::to_string(out_size));
  std::vector<std::uint8_t> out(out_size);
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return fail(ErrorKind::Io, "zlib initialisation failed");
  zs.next_in = const_cast<Bytef*>(in.bytes().data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&zs, Z_FINISH);
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || zs.total_out != out_size)
    return fail(ErrorKind::Unsupported,
                "compressed section is corrupt (zlib status " + std::to_string(rc) + ")");
  return out;
}

// Every ElfFile that maps a file, for release_mapped_elf_pages(). Registered by open(),
// removed by the destructor, both under the mutex, so a release never sees a dead file.
// Never destroyed: an ElfFile held by a static (the program's one module cache) is
// destroyed at exit after any function-local static made later, and its destructor
// still takes it out of this set.
std::mutex& mapped_files_mutex() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::set<const ElfFile*>& mapped_files() {
  static auto* files = new std::set<const ElfFile*>;
  return *files;
}

std::string hex(ByteReader r) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (auto b : r.bytes()) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

}  // namespace

Result<std::shared_ptr<ElfFile>> ElfFile::open(const std::string& path) {
  // Not open(2) directly: a FIFO given as --exe would block it (symbolizer/input_file.h).
  auto file = InputFile::open(path, "");
  if (!file) return std::unexpected(file.error());
  if (file->size() < 16)
    return fail(ErrorKind::Unsupported, path + ": not an ELF file (too short)");
  void* p = mmap(nullptr, file->size(), PROT_READ, MAP_PRIVATE, file->fd(), 0);
  if (p == MAP_FAILED) return fail_errno(errno, path + ": cannot map");
  std::shared_ptr<ElfFile> f(new ElfFile());
  f->path_ = path;
  f->data_ = static_cast<const std::uint8_t*>(p);
  f->size_ = file->size();
  f->mapped_ = true;
  if (auto r = f->parse(); !r) return context(r.error(), path);
  std::lock_guard lock(mapped_files_mutex());
  mapped_files().insert(f.get());
  return f;
}

Result<std::shared_ptr<ElfFile>> ElfFile::from_bytes(std::vector<std::uint8_t> bytes,
                                                     std::string name) {
  std::shared_ptr<ElfFile> f(new ElfFile());
  f->path_ = std::move(name);
  f->owned_ = std::move(bytes);
  f->data_ = f->owned_.data();
  f->size_ = f->owned_.size();
  if (auto r = f->parse(); !r) return context(r.error(), f->path_);
  return f;
}

ElfFile::~ElfFile() {
  if (mapped_) {
    std::lock_guard lock(mapped_files_mutex());
    mapped_files().erase(this);
  }
  if (elf_ != nullptr) elf_end(as_elf(elf_));
  if (mapped_) munmap(const_cast<std::uint8_t*>(data_), size_);
}

// MADV_DONTNEED on a private, read-only file mapping only unmaps the pages: the next read
// of one faults it in again from the page cache (or the file), with the same bytes. Pages
// of the mapping nobody reads again (most of a binary once it is indexed) then no longer
// count in the agent's RSS, nor in its cgroup's charge for mapped file pages.
std::size_t ElfFile::release_resident_pages() const {
  if (!mapped_) return 0;
  return madvise(const_cast<std::uint8_t*>(data_), size_, MADV_DONTNEED) == 0 ? size_ : 0;
}

std::uint64_t ElfFile::heap_bytes() const {
  std::uint64_t n = owned_.capacity() + sections_.capacity() * sizeof(ElfSection);
  if (symbols_) {
    n += symbols_->capacity() * sizeof(ElfSymbol);
    for (const auto& s : *symbols_) n += s.name.capacity() > 15 ? s.name.capacity() + 1 : 0;
  }
  for (const auto& [index, bytes] : decompressed_) n += bytes.capacity();
  return n;
}

MappedElfPages release_mapped_elf_pages() {
  std::lock_guard lock(mapped_files_mutex());
  MappedElfPages r;
  for (const ElfFile* f : mapped_files()) {
    ++r.files;
    r.mapped_bytes += f->release_resident_pages();
  }
  return r;
}


Result<void> ElfFile::parse() {
  init_libelf();
  if (size_ < 4 || std::memcmp(data_, ELFMAG, SELFMAG) != 0)
    return fail(ErrorKind::Unsupported, "not an ELF file");
  // libelf only reads the image; the cast drops const for its C API.
  Elf* e = elf_memory(reinterpret_cast<char*>(const_cast<std::uint8_t*>(data_)), size_);
  if (e == nullptr || elf_kind(e) != ELF_K_ELF) {
    if (e != nullptr) elf_end(e);
    return fail(ErrorKind::Unsupported, "not an ELF file");
  }
  elf_ = e;
  GElf_Ehdr eh;
  if (gelf_getehdr(e, &eh) == nullptr)
    return fail(ErrorKind::Unsupported, std::string("bad ELF header: ") + elf_errmsg(-1));
  machine_ = eh.e_machine;
  elf_type_ = eh.e_type;
  is_64bit_ = gelf_getclass(e) == ELFCLASS64;
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return fail(ErrorKind::Unsupported, "big-endian ELF files are not supported");

  std::size_t shstrndx = 0;
  bool have_names = elf_getshdrstrndx(e, &shstrndx) == 0;
  for (Elf_Scn* scn = elf_nextscn(e, nullptr); scn != nullptr; scn = elf_nextscn(e, scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr)
      return fail(ErrorKind::Unsupported, "bad section header");
    ElfSection s;
    s.index = elf_ndxscn(scn);
    const char* n = have_names ? elf_strptr(e, shstrndx, sh.sh_name) : nullptr;
    s.name = n != nullptr ? n : "";
    s.type = sh.sh_type;
    s.flags = sh.sh_flags;
    s.addr = sh.sh_addr;
    s.offset = sh.sh_offset;
    s.size = sh.sh_size;
    sections_.push_back(std::move(s));
    if (sections_.size() > 65536) return fail(ErrorKind::Unsupported, "too many sections");
  }
  std::size_t nph = 0;
  if (elf_getphdrnum(e, &nph) == 0) {
    for (std::size_t i = 0; i < nph && i < 4096; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(e, static_cast<int>(i), &ph) == nullptr) continue;
      segments_.push_back({ph.p_type, ph.p_flags, ph.p_offset, ph.p_vaddr, ph.p_filesz, ph.p_memsz,
                           ph.p_align});
    }
  }
  read_notes();
  return {};
}

void ElfFile::read_notes() {
  for (const auto& s : sections_) {
    if (s.type != SHT_NOTE) continue;
    auto data = section_data(s);
    if (!data) continue;
    std::uint64_t off = 0;
    while (data->contains(off, 12)) {
      std::uint32_t namesz = *data->u32(off), descsz = *data->u32(off + 4), type = *data->u32(off + 8);
      std::uint64_t name_off = off + 12;
      std::uint64_t desc_off = name_off + ((std::uint64_t(namesz) + 3) & ~3ull);
      std::uint64_t next = desc_off + ((std::uint64_t(descsz) + 3) & ~3ull);
      auto name = data->string(name_off, namesz);
      auto desc = data->sub(desc_off, descsz);
      if (!name || !desc) break;
      std::string_view nm = *name;
      while (!nm.empty() && nm.back() == '\0') nm.remove_suffix(1);
      if (nm == "GNU" && type == 3 /* NT_GNU_BUILD_ID */) build_id_ = hex(*desc);
      if (nm == "Go" && type == 4 /* ELF_NOTE_GOBUILDID_TAG */) {
        auto sv = desc->string(0, desc->size());
        if (sv) go_build_id_ = std::string(*sv);
      }
      off = next;
    }
  }
}

const ElfSection* ElfFile::section(std::string_view name) const {
  for (const auto& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

bool ElfFile::has_dwarf() const {
  return section(".debug_info") != nullptr || section(".zdebug_info") != nullptr;
}

Result<ByteReader> ElfFile::section_data(std::string_view name) const {
  const ElfSection* s = section(name);
  if (s == nullptr) return fail(ErrorKind::Unsupported, "no " + std::string(name) + " section");
  return section_data(*s);
}

Result<ByteReader> ElfFile::section_data(const ElfSection& s) const {
  if (s.type == SHT_NOBITS)
    return fail(ErrorKind::Unsupported, "section " + s.name + " has no contents in the file");
  auto raw = file_bytes().sub(s.offset, s.size);
  if (!raw) return fail(ErrorKind::Unsupported, "section " + s.name + " lies outside the file");
  bool gnu_zlib = s.name.starts_with(".zdebug");
  if ((s.flags & SHF_COMPRESSED) == 0 && !gnu_zlib) return raw;

  if (auto it = decompressed_.find(s.index); it != decompressed_.end())
    return ByteReader(std::span<const std::uint8_t>(it->second));
  std::uint64_t out_size = 0;
  Result<ByteReader> payload = fail(ErrorKind::Unsupported, "");
  if (gnu_zlib) {  // "ZLIB" then the size as a big-endian u64 (Go <= 1.19 writes these)
    auto magic = raw->string(0, 4);
    if (!magic || *magic != "ZLIB" || !raw->contains(4, 8))
      return fail(ErrorKind::Unsupported, "section " + s.name + ": bad ZLIB header");
    for (int i = 0; i < 8; ++i) out_size = (out_size << 8) | *raw->u8(4 + i);
    payload = raw->from(12);
  } else {
    unsigned hdr = is_64bit_ ? 24 : 12;
    auto type = raw->u32(0);
    if (!type || *type != ELFCOMPRESS_ZLIB)
      return fail(ErrorKind::Unsupported, "section " + s.name + ": unsupported compression");
    auto size = raw->uptr(is_64bit_ ? 8 : 4, ptr_size());
    if (!size)
      return fail(ErrorKind::Unsupported, "section " + s.name + ": truncated compression header");
    out_size = *size;
    payload = raw->from(hdr);
  }
  if (!payload) return context(payload.error(), "section " + s.name);
  auto out = inflate_exact(*payload, out_size);
  if (!out) return context(out.error(), "section " + s.name);
  auto& stored = decompressed_[s.index] = std::move(*out);
  return ByteReader(std::span<const std::uint8_t>(stored));
}

const std::vector<ElfSymbol>& ElfFile::symbols() const {
  if (symbols_) return *symbols_;
  symbols_.emplace();
  const ElfSection* tab = section(".symtab");
  if (tab == nullptr) tab = section(".dynsym");
  if (tab == nullptr) return *symbols_;
  const ElfSection* strtab = nullptr;
  GElf_Shdr sh;
  if (Elf_Scn* scn = elf_getscn(as_elf(elf_), tab->index); scn && gelf_getshdr(scn, &sh)) {
    for (const auto& s : sections_)
      if (s.index == sh.sh_link) strtab = &s;
  }
  auto syms = section_data(*tab);
  if (!syms || strtab == nullptr) return *symbols_;
  auto strs = section_data(*strtab);
  if (!strs) return *symbols_;
  const std::uint64_t entsize = is_64bit_ ? 24 : 16;
  for (std::uint64_t off = entsize; syms->contains(off, entsize); off += entsize) {
    ElfSymbol sym;
    std::uint32_t name_off = *syms->u32(off);
    std::uint8_t info;
    if (is_64bit_) {
      info = *syms->u8(off + 4);
      sym.section_index = *syms->u16(off + 6);
      sym.value = *syms->u64(off + 8);
      sym.size = *syms->u64(off + 16);
    } else {
      sym.value = *syms->u32(off + 4);
      sym.size = *syms->u32(off + 8);
      info = *syms->u8(off + 12);
      sym.section_index = *syms->u16(off + 14);
    }
    sym.type = info & 0xf;
    sym.bind = info >> 4;
    auto name = strs->cstring(name_off);
    if (name) sym.name = std::string(*name);
    symbols_->push_back(std::move(sym));
  }
  return *symbols_;
}

std::optional<std::uint64_t> ElfFile::vaddr_to_offset(std::uint64_t vaddr) const {
  for (const auto& p : segments_) {
    if (p.type == PT_LOAD && vaddr >= p.vaddr && vaddr - p.vaddr < p.filesz)
      return p.offset + (vaddr - p.vaddr);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> ElfFile::offset_to_vaddr(std::uint64_t offset) const {
  for (const auto& p : segments_) {
    if (p.type == PT_LOAD && offset >= p.offset && offset - p.offset < p.filesz)
      return p.vaddr + (offset - p.offset);
  }
  return std::nullopt;
}

Result<ByteReader> ElfFile::read_vaddr(std::uint64_t vaddr, std::uint64_t len) const {
  auto off = vaddr_to_offset(vaddr);
  if (!off)
    return fail(ErrorKind::NotFound,
                "address " + to_hex(vaddr) + " is not in a loaded segment of the file");
  return file_bytes().sub(*off, len);
}

}  // namespace goscry
