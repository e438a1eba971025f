#include "symbolizer/pclntab.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace goscry {
namespace {

constexpr std::uint32_t kMagic12 = 0xfffffffb;
constexpr std::uint32_t kMagic116 = 0xfffffffa;
constexpr std::uint32_t kMagic118 = 0xfffffff0;
constexpr std::uint32_t kMagic120 = 0xfffffff1;

// runtime/symtab.go: _PCDATA_InlTreeIndex and _FUNCDATA_InlTree.
constexpr std::uint32_t kPcdataInlTreeIndex = 2;
constexpr std::uint32_t kFuncdataInlTree = 3;
// A hostile inline tree could chain parentPc values in a cycle; real ones are shallow.
constexpr int kMaxInlineDepth = 64;

std::uint32_t trunc32(std::uint64_t v) { return static_cast<std::uint32_t>(v); }

}  // namespace

std::string_view pclntab_version_name(PclntabVersion v) {
  switch (v) {
    case PclntabVersion::Go12: return "1.2";
    case PclntabVersion::Go116: return "1.16";
    case PclntabVersion::Go118: return "1.18";
    case PclntabVersion::Go120: return "1.20";
  }
  return "?";
}

Result<PclntabHeader> read_pclntab_header(ByteReader t) {
  PclntabHeader h;
  auto magic = t.u32(0);
  if (!magic) return context(magic.error(), "header");
  h.magic = *magic;
  switch (h.magic) {
    case kMagic12: h.version = PclntabVersion::Go12; break;
    case kMagic116: h.version = PclntabVersion::Go116; break;
    case kMagic118: h.version = PclntabVersion::Go118; break;
    case kMagic120: h.version = PclntabVersion::Go120; break;
    // garble (github.com/burrowers/garble) writes a random magic so that tools like this
    // one cannot find the table: say so rather than "unknown".
    default:
      return fail(ErrorKind::Unsupported,
                  "pclntab magic " + to_hex(h.magic) +
                      " is none a Go release writes: an obfuscated binary (garble randomizes it), "
                      "which goscry cannot read");
  }
  auto pad1 = t.u8(4), pad2 = t.u8(5), quantum = t.u8(6), ptr = t.u8(7);
  if (!pad1 || !pad2 || !quantum || !ptr) return fail(ErrorKind::Unsupported, "header: truncated");
  if (*pad1 != 0 || *pad2 != 0) return fail(ErrorKind::Unsupported, "header: non-zero padding");
  if (*quantum != 1 && *quantum != 2 && *quantum != 4)
    return fail(ErrorKind::Unsupported,
                "header: bad instruction quantum " + std::to_string(*quantum));
  if (*ptr != 4 && *ptr != 8)
    return fail(ErrorKind::Unsupported, "header: bad pointer size " + std::to_string(*ptr));
  h.quantum = *quantum;
  h.ptr_size = *ptr;
  const unsigned p = h.ptr_size;

  // Header words after the first 8 bytes, in order; which ones exist depends on the format.
  auto word = [&](unsigned i) { return t.uptr(8 + std::uint64_t(i) * p, p); };
  auto nfunc = word(0);
  if (!nfunc) return fail(ErrorKind::Unsupported, "header: truncated");
  h.nfunc = *nfunc;
  if (h.nfunc == 0) return fail(ErrorKind::Unsupported, "header: no functions");

  std::uint64_t functab_off = 0, entsize = 0;
  if (h.version == PclntabVersion::Go12) {
    functab_off = 8 + p;
    entsize = 2 * p;
  } else {
    bool has_text = h.version != PclntabVersion::Go116;
    unsigned k = has_text ? 1 : 0;
    std::uint64_t vals[7];
    for (unsigned i = 0; i < 6 + k; ++i) {
      auto v = word(1 + i);
      if (!v) return fail(ErrorKind::Unsupported, "header: truncated");
      vals[i] = *v;
    }
    h.nfiles = vals[0];
    if (has_text) h.text_start = vals[1];
    h.funcname_off = vals[1 + k];
    h.cu_off = vals[2 + k];
    h.filetab_off = vals[3 + k];
    h.pctab_off = vals[4 + k];
    h.pcln_off = vals[5 + k];
    const std::pair<const char*, std::uint64_t> offs[] = {
        {"funcname", h.funcname_off}, {"cu", h.cu_off},       {"filetab", h.filetab_off},
        {"pctab", h.pctab_off},       {"pcln", h.pcln_off}};
    for (const auto& [what, off] : offs) {
      if (off > t.size())
        return fail(ErrorKind::Unsupported, std::string(what) + " table offset " + to_hex(off) +
                                                " is outside the " + std::to_string(t.size()) +
                                                "-byte table");
    }
    functab_off = h.pcln_off;
    entsize = has_text ? 8 : 2 * p;
  }
  // nfunc + 1 entries must fit: this caps every count derived from the header.
  if (h.nfunc > t.size() / entsize || !t.contains(functab_off, (h.nfunc + 1) * entsize))
    return fail(ErrorKind::Unsupported, "function table of " + std::to_string(h.nfunc) +
                                            " entries does not fit in the " +
                                            std::to_string(t.size()) + "-byte table");
  if (h.version == PclntabVersion::Go12) {
    auto ft = t.u32(functab_off + (h.nfunc * 2 + 1) * p);
    if (!ft) return fail(ErrorKind::Unsupported, "header: truncated file table offset");
    h.filetab_off = *ft;
    if (h.filetab_off > t.size())
      return fail(ErrorKind::Unsupported, "filetab table offset " + to_hex(h.filetab_off) +
                                              " is outside the " + std::to_string(t.size()) +
                                              "-byte table");
  }
  return h;
}

// One _func record, the fields goscry uses, per format (runtime2.go `_func`).
struct Pclntab::FuncRecord {
  std::uint64_t off = 0;  // of the record in the table
  std::uint64_t entry = 0;
  std::uint32_t name_off = 0;
  std::uint32_t pcsp = 0, pcfile = 0, pcln = 0, npcdata = 0, cu_off = 0;
  std::uint8_t nfuncdata = 0;
  std::uint8_t func_id = 0;
  std::uint64_t pcdata_off = 0;  // of the pcdata array in the table
};

Pclntab::~Pclntab() = default;

Result<std::unique_ptr<Pclntab>> Pclntab::parse(ByteReader table, PclntabContext ctx) {
  auto h = read_pclntab_header(table);
  if (!h) return std::unexpected(h.error());
  std::unique_ptr<Pclntab> t(new Pclntab());
  t->header_ = *h;
  t->table_ = table;
  t->ctx_ = std::move(ctx);
  t->text_start_ = t->ctx_.text_start ? t->ctx_.text_start : h->text_start;
  if (h->version == PclntabVersion::Go12) {
    // 1.2: one table; offsets are relative to its start.
    t->funcnames_ = t->pctab_ = t->pcln_ = table;
    t->filetab_ = *table.from(h->filetab_off);
    auto n = t->filetab_.u32(0);
    t->nfiletab_ = n ? *n : 0;
  } else {
    t->funcnames_ = *table.from(h->funcname_off);
    t->cutab_ = *table.from(h->cu_off);
    t->filetab_ = *table.from(h->filetab_off);
    t->pctab_ = *table.from(h->pctab_off);
    t->pcln_ = *table.from(h->pcln_off);
  }
  if (auto r = t->load_functab(); !r) return std::unexpected(r.error());
  t->index_names();
  t->index_buckets();
  return t;
}

Result<void> Pclntab::load_functab() {
  const unsigned p = header_.ptr_size;
  const bool offsets = header_.version >= PclntabVersion::Go118;
  const std::uint64_t base = header_.version == PclntabVersion::Go12 ? 8 + p : 0;
  const std::uint64_t entsize = offsets ? 8 : 2 * p;
  entries_.resize(header_.nfunc + 1);
  for (std::uint64_t i = 0; i <= header_.nfunc; ++i) {
    std::uint64_t e;
    if (offsets) {
      auto v = pcln_.u32(base + i * entsize);
      if (!v) return context(v.error(), "function table");
      e = text_start_ + *v;
    } else {
      auto v = pcln_.uptr(base + i * entsize, p);
      if (!v) return context(v.error(), "function table");
      e = *v;
    }
    if (i > 0 && e < entries_[i - 1])
      return fail(ErrorKind::Unsupported,
                  "function table is not sorted at entry " + std::to_string(i));
    entries_[i] = e;
  }
  return {};
}

std::uint64_t func_off_of(const ByteReader& pcln, const PclntabHeader& h, std::size_t i) {
  const unsigned p = h.ptr_size;
  if (h.version >= PclntabVersion::Go118) {
    auto v = pcln.u32(i * 8 + 4);
    return v ? *v : ~0ull;
  }
  std::uint64_t base = h.version == PclntabVersion::Go12 ? 8 + p : 0;
  auto v = pcln.uptr(base + i * 2 * p + p, p);
  return v ? *v : ~0ull;
}

// _func.funcID: after npcdata (1.2 format, Go 1.12-1.15), cuOffset (1.16-1.19), startLine
// (1.20+).
std::uint64_t func_id_offset(const PclntabHeader& h) {
  const unsigned p = h.ptr_size;
  switch (h.version) {
    case PclntabVersion::Go12: return p + 28;
    case PclntabVersion::Go116: return p + 32;
    case PclntabVersion::Go118: return 36;
    default: return 40;
  }
}

Result<Pclntab::FuncRecord> Pclntab::func_record(std::size_t i) const {
  FuncRecord f;
  f.off = func_off_of(pcln_, header_, i);
  f.entry = entries_[i];
  const unsigned p = header_.ptr_size;
  // Offsets of nameoff, pcfile, pcln, npcdata, cuOffset, nfuncdata and pcdata[] per format.
  std::uint64_t name, file, ln, npc, cu, nfd, pcd;
  switch (header_.version) {
    case PclntabVersion::Go12: name = p, file = p + 16, ln = p + 20, npc = p + 24, cu = 0,
                               nfd = p + 31, pcd = p + 32; break;
    case PclntabVersion::Go116: name = p, file = p + 16, ln = p + 20, npc = p + 24, cu = p + 28,
                                nfd = p + 35, pcd = p + 36; break;
    case PclntabVersion::Go118: name = 4, file = 20, ln = 24, npc = 28, cu = 32, nfd = 39,
                                pcd = 40; break;
    default: name = 4, file = 20, ln = 24, npc = 28, cu = 32, nfd = 43, pcd = 44; break;
  }
  auto rec = pcln_.sub(f.off, pcd);
  if (!rec) return context(rec.error(), "function " + std::to_string(i));
  f.name_off = *rec->u32(name);
  f.pcsp = *rec->u32(file - 4);  // pcsp precedes pcfile in every format
  f.pcfile = *rec->u32(file);
  f.pcln = *rec->u32(ln);
  f.npcdata = *rec->u32(npc);
  f.cu_off = cu ? *rec->u32(cu) : 0;
  f.nfuncdata = *rec->u8(nfd);
  f.func_id = *rec->u8(func_id_offset(header_));
  f.pcdata_off = f.off + pcd;
  return f;
}

// Where funcdata `index` of a function lies in the image: an offset from go:func.* in 1.18+
// (~0 = none), an address before (0 = none). 0 when it has none or it cannot be read.
std::uint64_t Pclntab::funcdata_vaddr(const FuncRecord& rec, std::uint32_t index) const {
  if (rec.nfuncdata <= index) return 0;
  std::uint64_t fd = rec.pcdata_off + std::uint64_t(rec.npcdata) * 4;
  if (header_.version >= PclntabVersion::Go118) {
    auto off = pcln_.u32(fd + 4 * index);
    return off && *off != 0xffffffffu && ctx_.gofunc != 0 ? ctx_.gofunc + *off : 0;
  }
  const unsigned p = header_.ptr_size;
  const std::uint64_t abs = fd + (header_.version == PclntabVersion::Go116 ? header_.pcln_off : 0);
  if (p == 8 && abs % 8 != 0) fd += 4;
  auto ptr = pcln_.uptr(fd + std::uint64_t(p) * index, p);
  return ptr ? *ptr : 0;
}

// Up to `max` bytes of the image at vaddr, fewer when the image ends sooner (funcdata of the
// last function may end a section).
std::vector<std::uint8_t> Pclntab::image_bytes(std::uint64_t vaddr, std::size_t max) const {
  std::vector<std::uint8_t> out;
  if (vaddr == 0 || !ctx_.read_image) return out;
  for (std::size_t len = max; len > 0; len /= 2) {
    if (auto r = ctx_.read_image(vaddr, len)) {
      for (std::size_t k = 0; k < len; ++k) out.push_back(*r->u8(k));
      return out;
    }
  }
  return out;
}

std::uint8_t Pclntab::func_id(std::size_t i) const {
  // The byte func_record() reads, without the rest of the record: read_wrapper_func_ids
  // asks it of every function when a binary opens.
  auto v = pcln_.u8(func_off_of(pcln_, header_, i) + func_id_offset(header_));
  return v ? *v : 0;
}

namespace {

// A hash of a function name, eight bytes at a time (names average ~50 bytes).
std::uint64_t name_hash(std::string_view s) {
  std::uint64_t h = 0x9e3779b97f4a7c15ull ^ s.size();
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  std::uint64_t w = 0;
  std::memcpy(&w, s.data() + i, s.size() - i);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 29);
}

}  // namespace

void Pclntab::index_names() {
  name_field_ = header_.version >= PclntabVersion::Go118 ? 4 : header_.ptr_size;
  std::size_t slots = 1024;
  while (slots < num_functions() + num_functions() / 2) slots *= 2;
  name_slots_.assign(slots, 0);
  const std::uint64_t mask = slots - 1;
  // In blocks: the names and hashes of a block first, their slots prefetched, then the
  // inserts. On a binary of 545,000 functions the slots (8 MiB) miss the cache at nearly
  // every insert; one miss at a time made this ~80 ms, overlapped ~4x less.
  constexpr std::size_t kBlock = 32;
  std::string_view names[kBlock];
  std::uint64_t hashes[kBlock];
  for (std::size_t first = 0; first < num_functions(); first += kBlock) {
    const std::size_t n = std::min(kBlock, num_functions() - first);
    for (std::size_t k = 0; k < n; ++k) {
      names[k] = name(first + k);
      hashes[k] = name_hash(names[k]);
      __builtin_prefetch(&name_slots_[hashes[k] & mask], 1);
    }
    for (std::size_t k = 0; k < n; ++k) {
      if (names[k] == "?") continue;
      const std::uint64_t tag = hashes[k] >> 32;
      for (std::uint64_t s = hashes[k] & mask;; s = (s + 1) & mask) {
        const std::uint64_t slot = name_slots_[s];
        if (slot == 0) {
          name_slots_[s] = tag << 32 | (first + k + 1);
          break;
        }
        // The first of two functions of one name wins.
        if (slot >> 32 == tag && name((slot & 0xffffffffu) - 1) == names[k]) break;
      }
    }
  }
}

std::string_view Pclntab::cstring_at(const ByteReader& r, std::uint64_t off) const {
  auto s = r.cstring(off, 4096);
  return s ? *s : std::string_view("?");
}

std::string_view Pclntab::name(std::size_t i) const {
  if (i >= num_functions()) return "?";
  auto off = pcln_.u32(func_off_of(pcln_, header_, i) + name_field_);
  if (!off) return "?";
  auto n = funcnames_.cstring(*off, 4096);
  return n ? *n : std::string_view("?");
}

std::optional<std::size_t> Pclntab::function_index(std::uint64_t pc) const {
  if (entries_.empty() || pc < entries_.front() || pc >= entries_.back()) return std::nullopt;
  // The bucket of pc bounds the search to the functions that start in it (like the
  // runtime's findfunctab), instead of a binary search over every function.
  auto first = entries_.begin(), last = entries_.end();
  std::uint64_t b = (pc - entries_.front()) >> bucket_shift_;
  if (b + 1 < buckets_.size()) {
    first = entries_.begin() + buckets_[b];
    last = entries_.begin() + std::min<std::size_t>(buckets_[b + 1] + 1, entries_.size());
  }
  auto it = std::upper_bound(first, last, pc);
  return static_cast<std::size_t>(it - entries_.begin()) - 1;
}

void Pclntab::index_buckets() {
  // One bucket per 2^bucket_shift_ bytes of text: the index of the function holding its
  // first byte. At most 2^20 buckets (4 MiB), so a hostile entry range cannot blow this up:
  // 256 bytes each up to 256 MiB of text, wider beyond (a 403 MiB text, 545,000 functions:
  // 512 bytes, ~1.4 functions each), and binary search alone past 64 GiB of text.
  std::uint64_t span = entries_.back() - entries_.front();
  while (span >> bucket_shift_ > (1u << 20) && bucket_shift_ < 16) ++bucket_shift_;
  if (span >> bucket_shift_ > (1u << 20)) return;
  std::size_t nb = (span >> bucket_shift_) + 2;
  buckets_.resize(nb);
  std::size_t f = 0;
  for (std::size_t b = 0; b < nb; ++b) {
    std::uint64_t start = entries_.front() + (std::uint64_t(b) << bucket_shift_);
    while (f + 1 < entries_.size() - 1 && entries_[f + 1] <= start) ++f;
    buckets_[b] = static_cast<std::uint32_t>(f);
  }
}

std::optional<std::size_t> Pclntab::find(std::string_view name) const {
  if (name_slots_.empty()) return std::nullopt;
  const std::uint64_t h = name_hash(name), tag = h >> 32, mask = name_slots_.size() - 1;
  for (std::uint64_t s = h & mask;; s = (s + 1) & mask) {
    const std::uint64_t slot = name_slots_[s];
    if (slot == 0) return std::nullopt;
    const std::size_t i = (slot & 0xffffffffu) - 1;
    if (slot >> 32 == tag && this->name(i) == name) return i;
  }
}

bool Pclntab::mentions_name(std::string_view name) const {
  // Names are NUL-separated; look for "\0name\0" (or the name at the very start).
  std::string needle;
  needle.reserve(name.size() + 2);
  needle.push_back('\0');
  needle.append(name);
  needle.push_back('\0');
  auto b = funcnames_.bytes();
  std::string_view hay(reinterpret_cast<const char*>(b.data()), b.size());
  if (header_.version != PclntabVersion::Go12) {
    std::size_t end = std::min<std::size_t>(hay.size(), header_.cu_off > header_.funcname_off
                                                            ? header_.cu_off - header_.funcname_off
                                                            : hay.size());
    hay = hay.substr(0, end);
  }
  return hay.find(needle) != std::string_view::npos ||
         hay.substr(0, name.size() + 1) == needle.substr(1);
}

namespace {

// The steps of a pcvalue table at `off` (the runtime's step()): pairs of varints, a zigzag
// value delta (0 ends the table, but for the first pair) and a pc delta in quanta.
class PcSteps {
 public:
  PcSteps(const ByteReader& tab, std::uint32_t off, unsigned quantum)
      : bytes_(tab.bytes()), pos_(off), quantum_(quantum) {}

  // Applies the next step to `val` and `pc`; `pcd` is its pc delta (0: an empty run).
  // False at the end of the table or of the bytes.
  bool next(std::int32_t& val, std::uint64_t& pc, std::uint32_t& pcd) {
    std::uint32_t u;
    const bool first = first_;
    first_ = false;
    if (!varint(&u) || (u == 0 && !first) || !varint(&pcd)) return false;
    std::int32_t delta = (u & 1) ? static_cast<std::int32_t>(~(u >> 1))
                                 : static_cast<std::int32_t>(u >> 1);
    val = static_cast<std::int32_t>(static_cast<std::uint32_t>(val) + delta);
    pc += std::uint64_t(pcd) * quantum_;
    return true;
  }

 private:
  bool varint(std::uint32_t* v) {
    std::uint32_t r = 0;
    for (unsigned shift = 0; shift < 35; shift += 7) {
      if (pos_ >= bytes_.size()) return false;
      std::uint8_t b = bytes_[pos_++];
      r |= std::uint32_t(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t pos_;
  unsigned quantum_;
  bool first_ = true;
};

// The value of a pcvalue table at pc offset `target`, decoding from the start (what the
// runtime's pcvalue does): no memory, sequential reads of a few hundred bytes.
std::int32_t pcvalue_at(const ByteReader& tab, std::uint32_t off, std::uint32_t target,
                        std::uint64_t size, unsigned quantum) {
  if (off == 0) return -1;
  PcSteps steps(tab, off, quantum);
  std::uint64_t pc = 0;
  std::int32_t val = -1;
  for (std::uint32_t pcd = 0; steps.next(val, pc, pcd);) {
    if (target < pc) return val;
    if (pc >= size) return -1;
  }
  return -1;
}

}  // namespace

std::optional<std::int32_t> Pclntab::sp_delta(std::uint64_t pc) const {
  auto idx = function_index(pc);
  if (!idx) return std::nullopt;
  auto rec = func_record(*idx);
  if (!rec) return std::nullopt;
  const std::uint64_t size = end(*idx) - entry(*idx);
  std::int32_t v = pcvalue_at(pctab_, rec->pcsp, static_cast<std::uint32_t>(pc - entry(*idx)),
                              size, header_.quantum);
  if (v < 0) return std::nullopt;
  return v;
}

PclntabArgInfo Pclntab::arg_info(std::size_t i, std::uint64_t pc) const {
  // runtime/traceback.go printArgs: FUNCDATA_ArgInfo = 5, FUNCDATA_ArgLiveInfo = 6,
  // PCDATA_ArgLiveIndex = 3; a program is at most (maxDepth*3+2)*limit+1 = 171 bytes.
  constexpr std::uint32_t kFuncdataArgInfo = 5, kFuncdataArgLiveInfo = 6, kPcdataArgLive = 3;
  constexpr std::size_t kMaxProgram = 171, kMaxLiveBytes = 32;
  PclntabArgInfo out;
  auto rec = func_record(i);
  if (!rec) return out;
  out.program = image_bytes(funcdata_vaddr(*rec, kFuncdataArgInfo), kMaxProgram);
  auto last = std::find(out.program.begin(), out.program.end(), std::uint8_t{0xff});
  if (last == out.program.end()) {
    out.program.clear();  // no end byte: not a program the runtime would print from
    return out;
  }
  out.program.erase(last + 1, out.program.end());
  const std::uint64_t live = funcdata_vaddr(*rec, kFuncdataArgLiveInfo);
  if (live == 0 || rec->npcdata <= kPcdataArgLive) return out;
  auto start = image_bytes(live, 1);
  if (start.empty()) return out;
  out.live_start = start[0];
  auto tab = pcln_.u32(rec->pcdata_off + 4 * kPcdataArgLive);
  if (!tab) return out;
  const std::int32_t idx = pcvalue_at(pctab_, *tab, trunc32(pc - entry(i)), end(i) - entry(i),
                                      header_.quantum);
  if (idx > 0) out.live = image_bytes(live + std::uint64_t(idx), kMaxLiveBytes);
  return out;
}

std::string_view Pclntab::file_name(const FuncRecord& f, std::int32_t fileno) const {
  if (fileno < 0) return "?";
  if (header_.version == PclntabVersion::Go12) {
    if (std::uint64_t(fileno) >= nfiletab_) return "?";
    auto off = filetab_.u32(std::uint64_t(fileno) * 4);
    return off ? cstring_at(table_, *off) : "?";
  }
  auto off = cutab_.u32((std::uint64_t(f.cu_off) + std::uint64_t(fileno)) * 4);
  if (!off || *off == 0xffffffffu) return "?";
  return cstring_at(filetab_, *off);
}

std::vector<PclntabFrame> Pclntab::frames(std::uint64_t pc) const {
  std::vector<PclntabFrame> out;
  frames(pc, out);
  return out;
}

// Where a function's inline tree is: its pcdata table (pc -> tree index) and the tree's
// address in the image. tree == 0: no inlined calls (or no way to read them).
struct Pclntab::InlineTree {
  std::uint64_t tree = 0;
  std::uint32_t tab = 0;
};

Pclntab::InlineTree Pclntab::inline_tree(const FuncRecord& rec) const {
  InlineTree inl;
  if (rec.npcdata <= kPcdataInlTreeIndex || rec.nfuncdata <= kFuncdataInlTree) return inl;
  auto inl_off = pcln_.u32(rec.pcdata_off + 4 * kPcdataInlTreeIndex);
  if (inl_off) inl.tab = *inl_off;
  inl.tree = funcdata_vaddr(rec, kFuncdataInlTree);
  return inl;
}

// Each level: the file:line tables at `off` give the position inside the innermost
// function still open; the inline tree names it and gives the call site (parentPc) in its
// caller, where the next level reads the tables again (runtime/symtabinl.go). Tables are
// decoded from their start at each lookup, as the runtime does: measured on cmd/compile,
// caching decoded tables cost 10x the memory and was slower for the first lookups, with
// no clear gain for later ones (scripts/bench-symbolizer.sh).
std::size_t Pclntab::frames(std::uint64_t pc, std::vector<PclntabFrame>& out) const {
  auto idx = function_index(pc);
  if (!idx) return 0;
  auto rec = func_record(*idx);
  if (!rec) return 0;
  const std::size_t before = out.size();
  append_frames(*idx, *rec, inline_tree(*rec), trunc32(pc - rec->entry), nullptr, out);
  return out.size() - before;
}

namespace {

// A pcvalue table decoded into runs: value val[i] for pc offsets below end[i] (and not
// below end[i-1]). at() gives what pcvalue_at gives, by binary search.
struct PcRuns {
  std::vector<std::uint32_t> end;
  std::vector<std::int32_t> val;

  void decode(const ByteReader& tab, std::uint32_t off, std::uint64_t size, unsigned quantum) {
    end.clear();
    val.clear();
    if (off == 0) return;
    PcSteps steps(tab, off, quantum);
    std::uint64_t pc = 0;
    std::int32_t v = -1;
    // Each step adds at least one byte, so the loop ends with the table's bytes; a run
    // past the function's size ends it too (as in pcvalue_at).
    for (std::uint32_t pcd = 0; pc < size && steps.next(v, pc, pcd);) {
      if (pcd == 0) continue;  // an empty run: never the answer
      end.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(pc, UINT32_MAX)));
      val.push_back(v);
    }
  }

  std::int32_t at(std::uint32_t target) const {
    auto it = std::upper_bound(end.begin(), end.end(), target);
    return it == end.end() ? -1 : val[it - end.begin()];
  }
};

}  // namespace

struct Pclntab::DecodedTables {
  PcRuns file, line, inl;
  // File names already looked up for this function (a function names a few files; each
  // lookup otherwise scans the name for its NUL).
  mutable std::vector<std::pair<std::int32_t, std::string_view>> files;
  std::string_view file_name(const Pclntab& t, const FuncRecord& rec, std::int32_t fileno) const {
    for (const auto& [n, name] : files)
      if (n == fileno) return name;
    files.emplace_back(fileno, t.file_name(rec, fileno));
    return files.back().second;
  }
};

void Pclntab::decode_tables(const FuncRecord& rec, const InlineTree& inl, std::uint64_t size,
                            DecodedTables& out) const {
  const unsigned q = header_.quantum;
  out.file.decode(pctab_, rec.pcfile, size, q);
  out.line.decode(pctab_, rec.pcln, size, q);
  out.inl.decode(pctab_, inl.tree ? inl.tab : 0, size, q);
  out.files.clear();
}

void Pclntab::append_frames(std::size_t idx, const FuncRecord& rec, const InlineTree& inl,
                            std::uint32_t off, const DecodedTables* decoded,
                            std::vector<PclntabFrame>& out) const {
  const std::uint64_t size = end(idx) - entry(idx);
  const unsigned q = header_.quantum;
  const bool wide = header_.version <= PclntabVersion::Go118;
  const std::uint64_t rec_size = wide ? 20 : 16;
  // The compiler adds a call's caller to the inline tree before the call, so going out to
  // callers the index strictly decreases. Real binaries break this (terraform, go1.23:
  // records whose parentPc leads back to the same index); stopping there, at the physical
  // function, ends every walk in at most ix steps.
  std::int32_t last_ix = INT32_MAX;
  for (int depth = 0; depth < kMaxInlineDepth; ++depth) {
    std::int32_t file, line, ix;
    if (decoded) {
      file = decoded->file.at(off);
      line = decoded->line.at(off);
      ix = decoded->inl.at(off);
    } else {
      file = pcvalue_at(pctab_, rec.pcfile, off, size, q);
      line = pcvalue_at(pctab_, rec.pcln, off, size, q);
      ix = inl.tree ? pcvalue_at(pctab_, inl.tab, off, size, q) : -1;
    }
    PclntabFrame fr;
    fr.file = decoded ? decoded->file_name(*this, rec, file) : file_name(rec, file);
    fr.line = line;
    fr.pc_offset = off;
    if (ix >= 0 && ix < last_ix && ctx_.read_image) {
      last_ix = ix;
      auto r = ctx_.read_image(inl.tree + std::uint64_t(ix) * rec_size, rec_size);
      if (r) {
        fr.function = cstring_at(funcnames_, *r->u32(wide ? 12 : 4));
        fr.inlined = true;
        // inlinedCall.funcID: after the int16 parent (to 1.19), first (1.20+).
        fr.func_id = *r->u8(wide ? 2 : 0);
        out.push_back(fr);
        off = *r->u32(wide ? 16 : 8);
        continue;
      }
    }
    fr.function = cstring_at(funcnames_, rec.name_off);
    fr.func_id = rec.func_id;
    out.push_back(fr);
    break;
  }
}

void Pclntab::frames_batch(std::span<const std::uint64_t> pcs, PclntabBatch& out) const {
  out.frames.clear();
  out.frames.reserve(pcs.size() * 2);  // 1.2 frames per PC on cmd/compile
  out.first.assign(pcs.size(), 0);
  out.count.assign(pcs.size(), 0);
  std::vector<std::pair<std::uint64_t, std::uint32_t>> order(pcs.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = {pcs[i], i};
  std::sort(order.begin(), order.end());
  DecodedTables tables;
  for (std::size_t k = 0; k < order.size();) {
    const std::uint64_t pc = order[k].first;
    auto idx = function_index(pc);
    auto rec =
        idx ? func_record(*idx) : Result<FuncRecord>(fail(ErrorKind::Unsupported, "not Go code"));
    if (!rec || pc < entry(*idx) || pc >= end(*idx)) {
      ++k;  // not Go code: count stays 0
      continue;
    }
    // Every PC of this function, and every call site its inlined frames lead to, reads
    // the tables decoded once here.
    const std::uint64_t lo = entry(*idx), hi = end(*idx);
    const InlineTree inl = inline_tree(*rec);
    decode_tables(*rec, inl, hi - lo, tables);
    for (; k < order.size() && order[k].first >= lo && order[k].first < hi; ++k) {
      const std::size_t before = out.frames.size();
      append_frames(*idx, *rec, inl, trunc32(order[k].first - rec->entry), &tables, out.frames);
      out.first[order[k].second] = static_cast<std::uint32_t>(before);
      out.count[order[k].second] = static_cast<std::uint32_t>(out.frames.size() - before);
    }
  }
}

}  // namespace goscry
