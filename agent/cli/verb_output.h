// How every verb ends and writes, in one place: a failure is one sentence on stderr that
// names the verb ("goscry top: pid 42: no such process") and exits with its kind's status
// (base/exit_codes.h); the output format is chosen by one lookup in the verb's table of
// renderers, whose names are also what --format accepts. A verb's run is then the control
// only: it builds a report and hands it to the renderer its user chose.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/base/exit_codes.h"
#include "symbolizer/error.h"

namespace goscry {

// "goscry VERB: MESSAGE" on stderr; returns the exit status of the error's kind.
int fail_verb(std::string_view verb, const Error& e);
// The same with a status of the verb's choosing (input it checked itself is bad input
// whatever the kind of the error that said so).
int fail_verb(std::string_view verb, const Error& e, ExitCode status);

// A verb's renderers by format name, the default first. `Render` is whatever the verb's
// renderers are (a function of its report to text, or to a stream of pieces).
template <class Render>
class Formats {
 public:
  Formats(std::initializer_list<std::pair<std::string, Render>> table) : table_(table) {}

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, render] : table_) out.push_back(name);
    return out;
  }
  const std::string& default_name() const { return table_.front().first; }
  // The renderer of `name`; the default's for a name --format did not let through.
  const Render& operator[](std::string_view name) const {
    for (const auto& [n, render] : table_)
      if (n == name) return render;
    return table_.front().second;
  }

 private:
  std::vector<std::pair<std::string, Render>> table_;
};

// --format NAME, one of `names` (the formats of the verb's table); `format` keeps its
// default when the flag is absent.
void add_format_option(CLI::App& cmd, std::string& format, const std::vector<std::string>& names,
                       const std::string& help = "output format");
// --format NAME, one of the table's, its first by default.
template <class Render>
void add_format_option(CLI::App& cmd, std::string& format, const Formats<Render>& formats,
                       const std::string& help = "output format") {
  add_format_option(cmd, format, formats.names(), help);
  cmd.get_option("--format")->default_val(formats.default_name());
}

}  // namespace goscry
