// The command line: one function per verb adds its subcommand to the CLI11 app. A verb's
// callback returns the process exit status; main() runs the chosen one.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "agent/goruntime/go_target.h"
#include "symbolizer/error.h"

namespace goscry {

// Set by the chosen subcommand's callback; main() calls it after parsing.
using VerbRun = std::function<int()>;

// --pid or --exe (TargetOptions, agent/goruntime/go_target.h).
void add_target_options(CLI::App& cmd, TargetOptions& t, bool allow_exe);

// --format text|json (the default is text).
void add_format_option(CLI::App& cmd, std::string& format);

void add_info_verb(CLI::App& app, VerbRun& run);
void add_symbolize_verb(CLI::App& app, VerbRun& run);
void add_dump_verb(CLI::App& app, VerbRun& run);
void add_leaks_verb(CLI::App& app, VerbRun& run);

void add_agent_verb(CLI::App& app, VerbRun& run);
void add_top_verb(CLI::App& app, VerbRun& run);
void add_gc_verb(CLI::App& app, VerbRun& run);
void add_record_verb(CLI::App& app, VerbRun& run);

}  // namespace goscry
