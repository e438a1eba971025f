#include "agent/cli/cli.h"

#include "agent/cli/verb_output.h"

namespace goscry {

void add_target_options(CLI::App& cmd, TargetOptions& t, bool allow_exe) {
  auto* pid = cmd.add_option("-p,--pid", t.pid, "process id of the Go program")
                  ->check(pid_validator());
  if (allow_exe) {
    auto* exe = cmd.add_option("--exe", t.exe, "a Go binary on disk instead of a process");
    pid->excludes(exe);
    exe->excludes(pid);
  }
}

CLI::Validator pid_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        const bool digits = !s.empty() && s.size() <= 10 &&
                            s.find_first_not_of("0123456789") == std::string::npos;
        // Up to INT_MAX: a larger number is no pid either, but one that fits is left to
        // say "no process with pid N" when there is none.
        if (digits && std::stoll(s) >= 1 && std::stoll(s) <= 2147483647) return {};
        return "\"" + s.substr(0, 32) + "\" is not a process id (a positive decimal number)";
      },
      "PID");
}

std::string unknown_verb(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return {};
  std::string verbs;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == argv[1]) return {};
    verbs += (verbs.empty() ? "" : ", ") + sub->get_name();
  }
  return "goscry: no verb \"" + std::string(argv[1]).substr(0, 32) + "\"; the verbs are " +
         verbs + " (goscry --help)";
}

void add_format_option(CLI::App& cmd, std::string& format) {
  add_format_option(cmd, format, {"text", "json"});
  cmd.get_option("--format")->default_val("text");
}

}  // namespace goscry
