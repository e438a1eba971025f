#include "agent/goruntime/creation_site.h"

namespace goscry {

std::string CreationSite::display() const {
  if (file.empty()) return function;
  const auto slash = file.rfind('/');
  return function + " " + (slash == std::string::npos ? file : file.substr(slash + 1)) + ":" +
         std::to_string(line);
}

CreationSite creation_site(const GoBinary& bin, std::uint64_t gopc) {
  CreationSite s;
  auto f = bin.function_at(gopc);
  if (!f) {
    s.function = to_hex(gopc);
    return s;
  }
  s.function = f->name;
  // runtime.printcreatedby: back up into the CALL instruction for the line, unless the pc
  // is the function's entry.
  const std::uint64_t pc = gopc > f->entry ? gopc - 1 : gopc;
  auto frames = bin.frames(pc);
  if (!frames.empty() && frames.front().file != "?") {
    s.file = frames.front().file;
    s.line = frames.front().line;
  }
  return s;
}

}  // namespace goscry
