// A Go binary as goscry sees it: the ELF file, its .go.buildinfo and its .gopclntab, with
// the questions the rest of goscry asks — where is function X, which function holds PC Y,
// and what are all the frames (inlined ones too) at Y. Addresses are file virtual
// addresses; callers add the load bias of a PIE themselves.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/buildinfo.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"
#include "symbolizer/machine_code.h"
#include "symbolizer/pclntab.h"
#include "symbolizer/wrapper_frames.h"

namespace goscry {

struct FuncBounds {
  std::string name;
  std::uint64_t entry = 0;
  std::uint64_t end = 0;  // exclusive
};

struct Frame {
  std::string function;
  std::string file;  // "?" when the table has none
  int line = 0;
  bool inlined = false;  // true for every frame but the physical function's
  // What the runtime's wrapper elision asks of it (symbolizer/wrapper_frames.h); kNormal for
  // native and kernel frames.
  FuncKind kind = FuncKind::kNormal;
};

class GoBinary {
 public:
  // Fails with "<path>: not a Go binary (no .gopclntab, no .go.buildinfo)" for other ELF
  // files, and with "<path>: .gopclntab: <cause>" for a corrupt table. Reads amd64 and
  // arm64 programs whatever the host's architecture (a file is only read); what opens a
  // process refuses another architecture than the host's itself (check_architecture).
  static Result<std::shared_ptr<GoBinary>> open(const std::string& path);
  static Result<std::shared_ptr<GoBinary>> from_elf(std::shared_ptr<const ElfFile> elf);

  const ElfFile& elf() const { return *elf_; }
  // The instruction set of its code: how ret_finder, emulated_probes and runtime_globals
  // decode it.
  Isa isa() const { return isa_; }
  const std::shared_ptr<const ElfFile>& elf_ptr() const { return elf_; }
  const Pclntab& pclntab() const { return *pclntab_; }
  // Empty when the binary has no .go.buildinfo (very old or hand-stripped).
  const std::optional<BuildInfo>& build_info() const { return build_info_; }
  std::string go_version() const { return build_info_ ? build_info_->go_version : ""; }
  int go_minor() const {
    return build_info_ ? go_minor_version(build_info_->go_version).value_or(0) : 0;
  }

  // The funcIDs the runtime's wrapper elision compares (symbolizer/wrapper_frames.h).
  const WrapperFuncIds& wrapper_func_ids() const { return wrapper_ids_; }

  std::string pclntab_format() const;  // "1.20" etc.
  std::uint64_t pclntab_vaddr() const { return pclntab_vaddr_; }
  // Where the runtime's text starts (moduledata.text), the base of 1.18+ entry offsets.
  std::uint64_t text_start() const { return pclntab_->text_start(); }
  bool stripped() const { return !elf_->has_symtab(); }
  bool has_dwarf() const { return elf_->has_dwarf(); }

  std::optional<FuncBounds> find_function(std::string_view name) const;
  std::optional<FuncBounds> function_at(std::uint64_t pc) const;
  // Every frame at pc, innermost first (like `addr2line -i`); the exact pc is symbolized.
  // Empty when pc is not Go code.
  std::vector<Frame> frames(std::uint64_t pc) const;
  // frames(pc) of every pc, in one pass per function (Pclntab::frames_batch): for many
  // addresses at once.
  std::vector<std::vector<Frame>> frames_batch(std::span<const std::uint64_t> pcs) const;

 private:
  GoBinary() = default;
  FuncBounds bounds(std::size_t i) const;

  std::shared_ptr<const ElfFile> elf_;
  Isa isa_ = Isa::X86_64;
  std::optional<BuildInfo> build_info_;
  std::unique_ptr<Pclntab> pclntab_;
  std::uint64_t pclntab_vaddr_ = 0;
  WrapperFuncIds wrapper_ids_;
};

// Whether goscry can read a running program built as `elf`: 64-bit, of this host's
// architecture. Every point that opens a process calls it (a file of another architecture
// is read: GoBinary).
// Else one sentence naming its GOARCH: "PATH: a GOARCH=386 (32-bit) program; goscry reads
// 64-bit Go programs of its own architecture (amd64) only" (read with 64-bit layouts, a
// 386 program gave 0 goroutines and garbage, silently).
Result<void> check_architecture(const ElfFile& elf);

}  // namespace goscry
