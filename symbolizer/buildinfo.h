// .go.buildinfo: the Go version a binary was built with, its main module and its build
// settings — what `go version -m FILE` prints. Found by section name, else by its magic
// ("\xff Go buildinf:") in the file when section headers are missing.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

struct BuildInfo {
  std::string go_version;    // "go1.26.8", suffixes kept ("go1.26.10-X:goroutineleakprofile")
  std::string path;          // main package: "goscry.dev/fixtures/hello"
  std::string main_path;     // main module: "goscry.dev/fixtures"
  std::string main_version;  // "(devel)" or a module version; empty when absent
  // The `build\tKEY=VALUE` lines of modinfo, in order, as the linker wrote them (values
  // that needed quoting stay quoted, as `go version -m` prints them).
  std::vector<std::pair<std::string, std::string>> settings;
  std::string modinfo;  // the whole module text, sentinels removed
};

// The minor version of "go1.N[.P][suffix]" (N), or an error for anything else (devel
// builds included).
Result<int> go_minor_version(std::string_view go_version);

// Parses the buildinfo blob (the section contents, or the file from the magic on).
Result<BuildInfo> parse_buildinfo(ByteReader blob, const ElfFile& elf);
// Finds and parses it; fails with "no .go.buildinfo" when there is none.
Result<BuildInfo> read_buildinfo(const ElfFile& elf);

}  // namespace goscry
