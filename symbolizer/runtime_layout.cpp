#include "symbolizer/runtime_layout.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>

namespace goscry {
namespace {

// Bounds on what a (possibly hostile) binary can make us read: Go has ~50 wait reasons and
// ~12 goroutine states; their names are a few words.
constexpr std::size_t kMaxNames = 1024;
constexpr std::uint64_t kMaxNameLen = 256;
// A DW_AT_sibling may point backwards in a crafted file; caps keep every walk finite. Go
// binaries have some 10^4 top-level DIEs per CU and structs of under 100 members.
constexpr int kMaxDiesPerUnit = 1 << 22;
constexpr int kMaxMembers = 1 << 12;
constexpr int kMaxUnits = 1 << 16;

struct DwarfCloser {
  void operator()(Dwarf* d) const { dwarf_end(d); }
};
struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

// What the DWARF walk collects: the top-level DIEs goscry needs, by name.
struct RuntimeDies {
  std::map<std::string, Dwarf_Die> structs;    // "runtime.g", "runtime.m", ...
  std::map<std::string, Dwarf_Die> variables;  // "runtime.waitReasonStrings", ...
};

bool wanted_struct(std::string_view name) {
  return name == "runtime.g" || name == "runtime.m" || name == "runtime.moduledata" ||
         name == "runtime.workType" || name == "runtime.bucket" || name == "runtime.memRecord" ||
         name == "runtime.memRecordCycle" || name == "runtime.gcControllerState" ||
         name == "runtime.schedt" || name == "runtime.p";
}
bool wanted_variable(std::string_view name) {
  return name == "runtime.waitReasonStrings" || name == "runtime.gStatusStrings";
}

// Go's linker puts every type and global at the top level of some compilation unit, so one
// pass over the CUs' direct children finds them all.
RuntimeDies find_runtime_dies(Dwarf* dw) {
  RuntimeDies found;
  Dwarf_Off off = 0, next = 0;
  std::size_t header_size = 0;
  for (int unit = 0; unit < kMaxUnits &&
                     dwarf_nextcu(dw, off, &next, &header_size, nullptr, nullptr, nullptr) == 0;
       ++unit) {
    Dwarf_Die cu, child;
    int dies = 0;
    if (dwarf_offdie(dw, off + header_size, &cu) != nullptr && dwarf_child(&cu, &child) == 0) {
      do {
        const char* name = dwarf_diename(&child);
        if (name == nullptr) continue;
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_structure_type && wanted_struct(name) && !found.structs.count(name))
          found.structs[name] = child;
        if (tag == DW_TAG_variable && wanted_variable(name)) found.variables[name] = child;
      } while (++dies < kMaxDiesPerUnit && dwarf_siblingof(&child, &child) == 0);
    }
    off = next;
  }
  return found;
}

bool type_of(Dwarf_Die* die, Dwarf_Die* type) {
  Dwarf_Attribute attr;
  if (dwarf_attr_integrate(die, DW_AT_type, &attr) == nullptr) return false;
  Dwarf_Die raw;
  if (dwarf_formref_die(&attr, &raw) == nullptr) return false;
  return dwarf_peel_type(&raw, type) == 0;
}

// The offset of a member path like "sched.sp" inside struct `s`, or -1 when absent.
int member_offset(Dwarf_Die s, std::string_view path) {
  int total = 0;
  while (!path.empty()) {
    std::size_t dot = path.find('.');
    std::string_view head = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    Dwarf_Die m;
    bool found = false;
    int members = 0;
    if (dwarf_child(&s, &m) == 0) {
      do {
        const char* name = dwarf_diename(&m);
        if (dwarf_tag(&m) == DW_TAG_member && name != nullptr && head == name) {
          found = true;
          break;
        }
      } while (++members < kMaxMembers && dwarf_siblingof(&m, &m) == 0);
    }
    Dwarf_Attribute attr;
    Dwarf_Word loc = 0;
    if (!found || dwarf_attr(&m, DW_AT_data_member_location, &attr) == nullptr ||
        dwarf_formudata(&attr, &loc) != 0 || loc > 1u << 20)
      return -1;
    total += static_cast<int>(loc);
    if (!path.empty() && !type_of(&m, &s)) return -1;
  }
  return total;
}

int struct_size(Dwarf_Die s) {
  int size = dwarf_bytesize(&s);
  return size > 0 ? size : -1;
}

// Reads a Go [N]string global (runtime.waitReasonStrings) from the binary's data. This is
// the list Go itself indexes when it prints "[chan receive]", so it is right for any
// version, including ones newer than our table. Each string header is {ptr, len}.
// The address of a global from its DW_AT_location. Go writes the location as a plain block
// (DW_FORM_block1) holding one DW_OP_addr even in DWARF 4, which libdw's dwarf_getlocation
// rejects, so the block is decoded here.
Result<std::uint64_t> static_address(Dwarf_Die var, unsigned ptr_size) {
  Dwarf_Attribute attr;
  Dwarf_Block block;
  if (dwarf_attr(&var, DW_AT_location, &attr) == nullptr || dwarf_formblock(&attr, &block) != 0)
    return fail(ErrorKind::Unsupported, "no DW_AT_location block");
  ByteReader r(std::span<const std::uint8_t>(block.data, block.length));
  auto op = r.u8(0);
  if (!op || *op != DW_OP_addr || block.length != 1 + ptr_size)
    return fail(ErrorKind::Unsupported, "location is not a single DW_OP_addr");
  auto addr = r.uptr(1, ptr_size);
  if (!addr) return std::unexpected(addr.error());
  return *addr;
}

Result<std::vector<std::string>> read_string_array(const ElfFile& elf, Dwarf_Die var) {
  const unsigned ptr = elf.ptr_size();
  auto addr = static_address(var, ptr);
  if (!addr) return std::unexpected(addr.error());
  Dwarf_Die type;
  Dwarf_Word bytes = 0;
  if (!type_of(&var, &type) || dwarf_aggregate_size(&type, &bytes) != 0)
    return fail(ErrorKind::Unsupported, "no array size");
  std::uint64_t count = bytes / (2 * ptr);
  if (count == 0 || count > kMaxNames)
    return fail(ErrorKind::Unsupported, "implausible length " + std::to_string(count));
  auto headers = elf.read_vaddr(*addr, count * 2 * ptr);
  if (!headers) return std::unexpected(headers.error());
  std::vector<std::string> names;
  for (std::uint64_t i = 0; i < count; ++i) {
    auto p = headers->uptr(i * 2 * ptr, ptr);
    auto n = headers->uptr(i * 2 * ptr + ptr, ptr);
    if (!p || !n || *n > kMaxNameLen)
      return fail(ErrorKind::Unsupported, "bad string header " + std::to_string(i));
    if (*n == 0) {
      names.emplace_back();
      continue;
    }
    auto text = elf.read_vaddr(*p, *n);
    if (!text) return context(text.error(), "string " + std::to_string(i));
    auto s = text->string(0, *n);
    if (!s) return std::unexpected(s.error());
    names.emplace_back(*s);
  }
  return names;
}

// libdw decompresses SHF_COMPRESSED sections (Go compresses all of its DWARF) by rewriting
// section headers in the image, so it needs a writable image: a copy-on-write mapping of the
// file when the ElfFile came from one, else a private copy of the bytes (from_bytes).
struct DwarfImage {
  std::vector<std::uint8_t> copy;
  int fd = -1;
  std::unique_ptr<Elf, ElfCloser> elf;
  std::unique_ptr<Dwarf, DwarfCloser> dwarf;

  ~DwarfImage() {
    dwarf.reset();
    elf.reset();
    if (fd >= 0) close(fd);
  }

  Result<void> open(const ElfFile& file) {
    elf_version(EV_CURRENT);
    auto bytes = file.file_bytes().bytes();
    fd = ::open(file.path().c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) == bytes.size()) {
      elf.reset(elf_begin(fd, ELF_C_READ_MMAP_PRIVATE, nullptr));
    } else {
      copy.assign(bytes.begin(), bytes.end());
      elf.reset(elf_memory(reinterpret_cast<char*>(copy.data()), copy.size()));
    }
    if (!elf) return fail(ErrorKind::Unsupported, std::string("libelf: ") + elf_errmsg(-1));
    dwarf.reset(dwarf_begin_elf(elf.get(), DWARF_C_READ, nullptr));
    if (!dwarf) return fail(ErrorKind::Unsupported, std::string("libdw: ") + dwarf_errmsg(-1));
    return {};
  }
};

Result<RuntimeLayout> layout_from_dies(const ElfFile& elf, RuntimeDies& dies) {
  if (!dies.structs.count("runtime.g") || !dies.structs.count("runtime.m"))
    return fail(ErrorKind::Unsupported, "DWARF has no runtime.g/runtime.m (not a Go binary?)");
  RuntimeLayout l;
  auto offset_of = [&](const char* type, std::string_view path) {
    auto it = dies.structs.find(type);
    if (it == dies.structs.end()) return -1;
    return path.empty() ? struct_size(it->second) : member_offset(it->second, path);
  };
#define GOSCRY_READ_FIELD(name, type, path) l.name = offset_of(type, path);
  GOSCRY_RUNTIME_LAYOUT_FIELDS(GOSCRY_READ_FIELD)
#undef GOSCRY_READ_FIELD
  if (l.g_goid < 0 || l.g_atomicstatus < 0 || l.g_sched_sp < 0 || l.g_size <= 0)
    return fail(ErrorKind::Unsupported, "runtime.g in DWARF lacks goid/atomicstatus/sched");
  // Offsets are worth having even when the names cannot be read (a data pointer left for a
  // dynamic relocation, a renamed array): the names are then left empty and the source says
  // why, so runtime_layout() can take them from the table.
  l.source = "DWARF";
  for (auto [var, out] : {std::pair{"runtime.waitReasonStrings", &l.wait_reasons},
                          std::pair{"runtime.gStatusStrings", &l.g_statuses}}) {
    auto it = dies.variables.find(var);
    auto names = it == dies.variables.end() ? fail(ErrorKind::Unsupported, "not in DWARF")
                                            : read_string_array(elf, it->second);
    if (names) {
      *out = std::move(*names);
    } else {
      l.source += std::string(" (no names: ") + var + ": " + names.error().message + ")";
      l.wait_reasons.clear();
      l.g_statuses.clear();
      break;
    }
  }
  return l;
}

}  // namespace

std::vector<std::pair<std::string_view, int>> layout_fields(const RuntimeLayout& l) {
  return {
#define GOSCRY_LIST_FIELD(name, type, path) {#name, l.name},
      GOSCRY_RUNTIME_LAYOUT_FIELDS(GOSCRY_LIST_FIELD)
#undef GOSCRY_LIST_FIELD
  };
}

Result<RuntimeLayout> layout_from_dwarf(const ElfFile& elf) {
  if (!elf.has_dwarf())
    return fail(ErrorKind::Unsupported, elf.path() + ": no DWARF (built with -ldflags=-w?)");
  DwarfImage image;
  if (auto r = image.open(elf); !r) return context(r.error(), elf.path());
  RuntimeDies dies = find_runtime_dies(image.dwarf.get());
  return context(layout_from_dies(elf, dies), elf.path());
}

namespace {

// The one place arm64's layout differs from amd64's in what goscry reads: runtime.workType
// opens with cpu.CacheLinePad fields, 128 bytes on arm64 and 64 on amd64 (internal/cpu), so
// its fields after them (heap0, pauseStart, cycles, tEnd, pauseNS) sit 64 bytes further per pad:
// one pad before them in go1.20, two in 1.21-1.24, three in 1.25, four in 1.26-1.27, and
// none in 1.19, whose layout is amd64's. Measured on the DWARF of arm64 builds of each
// release and checked by RuntimeLayout.TableEqualsDwarfOnArm64 (docs/go-runtime.md "arm64").
int arm64_work_shift(int minor) {
  if (minor <= 19) return 0;
  if (minor == 20) return 64;
  if (minor <= 24) return 128;
  if (minor == 25) return 192;
  return 256;
}

void adjust_for_arm64(RuntimeLayout& l, int minor) {
  const int shift = arm64_work_shift(minor);
  for (int* field :
       {&l.work_heap0, &l.work_cycles, &l.work_t_end, &l.work_pause_ns, &l.work_pause_start})
    if (*field >= 0) *field += shift;
}

}  // namespace

Result<RuntimeLayout> layout_from_table(std::string_view go_version, Isa isa) {
  auto minor = go_minor_version(go_version);
  if (!minor) return std::unexpected(minor.error());
  const auto& table = go_offsets_table();
  for (const auto& entry : table) {
    if (entry.minor != *minor) continue;
    RuntimeLayout l = entry.layout;
    if (isa == Isa::Arm64) adjust_for_arm64(l, *minor);
    l.source = "table (go1." + std::to_string(*minor) + (isa == Isa::Arm64 ? ", arm64" : "") + ")";
    return l;
  }
  std::string range = table.empty() ? "none" : "go1." + std::to_string(table.front().minor) +
                                                   "-go1." + std::to_string(table.back().minor);
  return fail(ErrorKind::Unsupported, "no runtime offsets for " + std::string(go_version) +
                                          " (table covers " + range + ")");
}

Result<RuntimeLayout> runtime_layout(const ElfFile& elf, std::string_view go_version) {
  auto from_dwarf = layout_from_dwarf(elf);
  auto from_table = layout_from_table(go_version, isa_of(elf).value_or(Isa::X86_64));
  if (from_dwarf && from_dwarf->wait_reasons.empty() && from_table) {
    from_dwarf->wait_reasons = from_table->wait_reasons;
    from_dwarf->g_statuses = from_table->g_statuses;
    from_dwarf->source = "DWARF, names from " + from_table->source;
  }
  if (from_dwarf) return from_dwarf;
  if (from_table) return from_table;
  return fail(ErrorKind::Unsupported,
              from_dwarf.error().message + "; " + from_table.error().message);
}

}  // namespace goscry
