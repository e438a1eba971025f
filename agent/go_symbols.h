// The questions the goroutine and GC trackers ask of a target's binary: where a runtime
// function is (to probe it), which function holds a PC, and how Go's traceback would name
// a creation site ("created by main.spawn in goroutine 1 / main.go:42"), plus the Go
// version the binary was built with.
//
// INTERIM: answered from .symtab and .go.buildinfo until symbolizer/go_binary.h (branch
// pclntab) lands; then GoBinary (the .gopclntab, which stripped binaries keep) answers
// and file:line appear in site names.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

struct CodeBounds {
  std::string name;
  std::uint64_t entry = 0;
  std::uint64_t end = 0;  // exclusive
};

class GoSymbols {
 public:
  // Fails with "<path>: not a Go binary (...)" for an ELF file without Go build info.
  static Result<std::shared_ptr<GoSymbols>> open(std::shared_ptr<ElfFile> elf);

  const ElfFile& elf() const { return *elf_; }
  const std::string& go_version() const { return go_version_; }
  std::optional<CodeBounds> find_function(std::string_view name) const;
  std::optional<CodeBounds> function_at(std::uint64_t pc) const;  // link-time pc
  // What Go prints for a goroutine's creator: "main.spawnShort main.go:55" (the function
  // holding the `go` statement and its line; without line tables the function, or the pc).
  std::string site_name(std::uint64_t gopc) const;

 private:
  std::shared_ptr<ElfFile> elf_;
  std::string go_version_;
  std::vector<CodeBounds> functions_;  // sorted by entry
};

// "go1.26.8" from .go.buildinfo (the inline-string form of Go 1.18+).
Result<std::string> read_go_version(const ElfFile& elf);

}  // namespace goscry
