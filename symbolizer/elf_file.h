// An ELF file read with libelf: sections (SHF_COMPRESSED and .zdebug ones decompressed),
// program headers, .symtab/.dynsym, the build-id, and virtual address <-> file offset.
// The file is untrusted (it may be any /proc/PID/exe): every range is checked against the
// file size and decompressed sizes are capped.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/byte_reader.h"
#include "symbolizer/error.h"

namespace goscry {

struct ElfSection {
  std::size_t index = 0;
  std::string name;
  std::uint32_t type = 0;
  std::uint64_t flags = 0;
  std::uint64_t addr = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

struct ElfSegment {
  std::uint32_t type = 0;
  std::uint32_t flags = 0;
  std::uint64_t offset = 0;
  std::uint64_t vaddr = 0;
  std::uint64_t filesz = 0;
  std::uint64_t memsz = 0;
  std::uint64_t align = 0;
};

struct ElfSymbol {
  std::string name;
  std::uint64_t value = 0;
  std::uint64_t size = 0;
  std::uint8_t type = 0;  // STT_*
  std::uint8_t bind = 0;  // STB_*
  std::uint16_t section_index = 0;
};

class ElfFile {
 public:
  // Maps the file read-only. Fails with "<path>: <cause>" for a missing, unreadable,
  // non-ELF or malformed file.
  static Result<std::shared_ptr<ElfFile>> open(const std::string& path);
  // Parses bytes held in memory (fuzzing, tests). The name is used in messages.
  static Result<std::shared_ptr<ElfFile>> from_bytes(std::vector<std::uint8_t> bytes,
                                                     std::string name);
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const std::string& path() const { return path_; }
  std::uint16_t machine() const { return machine_; }
  std::uint16_t elf_type() const { return elf_type_; }  // ET_EXEC, ET_DYN, ...
  bool is_64bit() const { return is_64bit_; }
  unsigned ptr_size() const { return is_64bit_ ? 8 : 4; }

  const std::vector<ElfSection>& sections() const { return sections_; }
  const ElfSection* section(std::string_view name) const;
  const std::vector<ElfSegment>& segments() const { return segments_; }

  // The contents of a section, decompressed when needed (the result is cached and lives
  // as long as this ElfFile). SHT_NOBITS sections have no contents.
  Result<ByteReader> section_data(const ElfSection& s) const;
  Result<ByteReader> section_data(std::string_view name) const;

  // .symtab when present, else .dynsym. Empty (not an error) when stripped.
  const std::vector<ElfSymbol>& symbols() const;
  bool has_symtab() const { return section(".symtab") != nullptr; }
  bool has_dwarf() const;

  // GNU build-id (NT_GNU_BUILD_ID) as lowercase hex, else the Go build ID note.
  std::optional<std::string> build_id() const { return build_id_; }
  std::optional<std::string> go_build_id() const { return go_build_id_; }

  std::optional<std::uint64_t> vaddr_to_offset(std::uint64_t vaddr) const;
  std::optional<std::uint64_t> offset_to_vaddr(std::uint64_t offset) const;
  // Bytes of the file image at a virtual address (from PT_LOAD segments).
  Result<ByteReader> read_vaddr(std::uint64_t vaddr, std::uint64_t len) const;

  ByteReader file_bytes() const { return ByteReader(std::span(data_, size_)); }
  // The heap this object holds beyond the mapping: the symbol table once read, decompressed
  // sections (an estimate: vectors' capacities and the names' lengths).
  std::uint64_t heap_bytes() const;
  // Drops the file's pages from this process's resident set (they are read again from the
  // page cache when next touched); the bytes mapped, 0 for a file held in memory.
  std::size_t release_resident_pages() const;

 private:
  ElfFile() = default;
  Result<void> parse();
  void read_notes();

  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
  std::vector<std::uint8_t> owned_;
  void* elf_ = nullptr;  // Elf*, kept opaque so users need no libelf headers
  std::uint16_t machine_ = 0;
  std::uint16_t elf_type_ = 0;
  bool is_64bit_ = true;
  std::vector<ElfSection> sections_;
  std::vector<ElfSegment> segments_;
  std::optional<std::string> build_id_;
  std::optional<std::string> go_build_id_;
  mutable std::optional<std::vector<ElfSymbol>> symbols_;
  mutable std::map<std::size_t, std::vector<std::uint8_t>> decompressed_;
};

struct MappedElfPages {
  std::size_t files = 0;
  std::uint64_t mapped_bytes = 0;
};
// release_resident_pages() of every live ElfFile opened from a file: what the agent does
// when its file-backed pages are over their share of the memory budget.
MappedElfPages release_mapped_elf_pages();

}  // namespace goscry
