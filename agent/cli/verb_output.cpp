#include "agent/cli/verb_output.h"

#include "agent/cli/cli.h"

namespace goscry {

int fail_verb(std::string_view verb, const Error& e) { return fail_verb(verb, e, exit_code(e)); }

int fail_verb(std::string_view verb, const Error& e, ExitCode status) {
  std::fprintf(stderr, "goscry %.*s: %s\n", int(verb.size()), verb.data(), e.message.c_str());
  return status;
}

void add_format_option(CLI::App& cmd, std::string& format, const std::vector<std::string>& names,
                       const std::string& help) {
  cmd.add_option("--format", format, help)->check(CLI::IsMember(names));
}

}  // namespace goscry
