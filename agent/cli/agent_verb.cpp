// `goscry agent`: the command line of the daemon (daemon/agent_wiring.h wires it, daemon.h
// runs it).
#include <memory>

#include "agent/cli/cli.h"
#include "agent/daemon/agent_config.h"
#include "agent/daemon/agent_wiring.h"

namespace goscry {

void add_agent_verb(CLI::App& app, VerbRun& run) {
  auto flags = std::make_shared<ConfigFlags>();
  auto all = std::make_shared<bool>(false);
  auto trackers = std::make_shared<TrackerOptions>();
  auto* cmd = app.add_subcommand(
      "agent",
      "Daemon: track Go processes, serve /metrics, /debug/pprof/profile, /api/v1/targets and / "
      "over HTTP(S); "
      "SIGHUP reloads --config.");
  cmd->add_option("-p,--pid", flags->pids, "process id of a Go program to track (repeatable)")
      ->check(pid_validator());
  cmd->add_flag("--all", *all, "track every Go process of the host");
  cmd->add_option("--config", flags->config_file, "YAML settings file (docs/agent.md)");
  cmd->add_option("--listen", flags->listen,
                  std::string("HOST:PORT to serve on (default ") + kDefaultListen +
                      "; port 0 picks a free one and logs it)");
  cmd->add_option("--health.listen", flags->health_listen,
                  "HOST:PORT serving /healthz only, plain HTTP without auth, for probes "
                  "(default: none)");
  cmd->add_option("--web.config.file", flags->web_config_file,
                  "TLS and basic auth settings, as Prometheus exporters read them");
  cmd->add_option("--log-format", flags->log_format, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--log-level", flags->log_level, "debug, info (default), warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd->add_flag("!--no-bpf", trackers->bpf,
                "no BPF probes: /proc figures and goroutine snapshots only");
  cmd->add_flag("!--no-leaks", trackers->leaks,
                "no leak detection (no goroutine snapshots, no goroutine/leak routes)");
  cmd->add_flag("!--no-heap", trackers->heap,
                "no memory-read profiles (no heap reads, no heap/allocs/block/mutex routes, no "
                "allocation sites)");
  cmd->add_option("--profile-hz", flags->profile_hz,
                  "CPU samples per second per CPU of every target (default 19; 0: off)");
  cmd->callback([&run, flags, all, cmd, trackers] {
    if (cmd->count("--all") > 0) flags->all = *all;
    run = [flags, trackers] { return run_agent(*flags, *trackers); };
  });
}

}  // namespace goscry
