// The Go version a binary was built with ("go1.26.8", "go1.26.10-X:goroutineleakprofile"),
// read from its .go.buildinfo blob. Kept to this one small file until the symbolizer's
// GoBinary reader lands; then go_version_of() becomes a call to it.
#pragma once

#include <string>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

// The version string, or why there is none: "no .go.buildinfo (not a Go binary?)",
// "Go build info of a toolchain older than 1.18 (not supported)".
Result<std::string> go_version_of(const ElfFile& elf);

// Opens `path` (e.g. /proc/PID/exe) and reads its version. Cheap: maps the file, reads the
// section headers and one small section, so it can run on every process of a host.
Result<std::string> go_version_of_file(const std::string& path);

}  // namespace goscry
