// goscry: see inside running Go programs with eBPF, with zero instrumentation.
#include <cstdio>

#include "agent/base/exit_codes.h"
#include "agent/cli/cli.h"

int main(int argc, char** argv) {
  CLI::App app{
      "goscry sees inside running Go programs without touching them: goroutines, GC pauses,\n"
      "CPU profiles and leaks, from the binary, the address space and eBPF probes.",
      "goscry"};
  app.set_version_flag("--version", std::string("goscry ") + GOSCRY_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  goscry::VerbRun run;
  goscry::add_info_verb(app, run);
  goscry::add_symbolize_verb(app, run);
  goscry::add_dump_verb(app, run);
  goscry::add_heap_verb(app, run);
  goscry::add_block_verb(app, run);
  goscry::add_mutex_verb(app, run);
  goscry::add_leaks_verb(app, run);
  goscry::add_agent_verb(app, run);
  goscry::add_top_verb(app, run);
  goscry::add_gc_verb(app, run);
  goscry::add_record_verb(app, run);

  if (auto why = goscry::unknown_verb(app, argc, argv); !why.empty()) {
    std::fprintf(stderr, "%s\n", why.c_str());
    return goscry::kExitBadInput;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here with 0; a wrong command line is bad input, whatever
    // CLI11's own number for the kind of mistake.
    return app.exit(e) == 0 ? goscry::kExitOk : goscry::kExitBadInput;
  }
  return run ? run() : goscry::kExitBadInput;
}
