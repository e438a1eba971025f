// The Go version a binary was built with ("go1.26.8", "go1.26.10-X:goroutineleakprofile"),
// read with symbolizer/buildinfo after a cheap check that there is build info at all (the
// agent's --all asks it of every process of a host).
#pragma once

#include <string>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

// Whether the ELF file has Go build info (the .go.buildinfo section, or its magic where the
// Go linker puts it when section headers are stripped): Go executables, Go plugins and
// c-shared Go libraries have it. Reads at most 64 KiB of the file.
bool has_go_buildinfo(const ElfFile& elf);

// The version string, or why there is none: "no .go.buildinfo (not a Go binary?)".
Result<std::string> go_version_of(const ElfFile& elf);

// Opens `path` (e.g. /proc/PID/exe) and reads its version. Cheap: maps the file, reads the
// section headers and one small section, so it can run on every process of a host.
Result<std::string> go_version_of_file(const std::string& path);

}  // namespace goscry
