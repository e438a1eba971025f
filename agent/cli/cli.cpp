#include "agent/cli/cli.h"

namespace goscry {

void add_target_options(CLI::App& cmd, TargetOptions& t, bool allow_exe) {
  auto* pid = cmd.add_option("-p,--pid", t.pid, "process id of the Go program")
                  ->check(CLI::PositiveNumber);
  if (allow_exe) {
    auto* exe = cmd.add_option("--exe", t.exe, "a Go binary on disk instead of a process");
    pid->excludes(exe);
    exe->excludes(pid);
  }
}

void add_format_option(CLI::App& cmd, std::string& format) {
  cmd.add_option("--format", format, "output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_val("text");
}

}  // namespace goscry
