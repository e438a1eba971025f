// One place in a Go program's code as Go's traceback names it: a function and the
// file:line of a statement in it. A goroutine's creation site, its blocking site and the
// "created by" of a traceback are all one (docs/architecture.md, "one of each concept").
#pragma once

#include <compare>
#include <string>

namespace goscry {

struct CodeLocation {
  std::string function;  // "main.spawnShort"; the pc in hex when no function holds it
  std::string file;      // full path as in the pclntab; empty (or "?") when unknown
  int line = 0;

  // "main.leakRecv /src/main.go:70"
  std::string text() const;
  // "main.spawnShort main.go:55": the file's base name; the function alone without a file.
  std::string short_text() const;
  auto operator<=>(const CodeLocation&) const = default;
};

}  // namespace goscry
