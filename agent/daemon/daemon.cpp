#include "agent/daemon/daemon.h"

#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "agent/base/exit_codes.h"
#include "agent/base/log.h"
#include "agent/daemon/kube_pods.h"
#include "agent/daemon/memory_budget.h"
#include "agent/daemon/proc_target.h"
#include "agent/daemon/status_pages.h"
#include "exporters/json_report.h"
#include "agent/daemon/targets.h"
#include "exporters/process_metrics.h"
#include "exporters/prometheus.h"

namespace goscry {
namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TargetSettings target_settings(const AgentConfig& c) {
  return TargetSettings{c.targets, c.all, c.max_targets, c.grace_period, c.selection, c.trace};
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Result<std::optional<KubeEndpoint>> kube_endpoint_of(const AgentConfig& c) {
  return resolve_kube_endpoint(c.kube, env_or_empty);
}

// What the pod list knows of the target's container wins over the cgroup + environ guess.
void apply_pod_identity(TargetInfo& t, const PodIdentity& p) {
  t.pod = p.pod;
  t.kube_namespace = p.kube_namespace;
  t.container = p.container;
  t.pod_labels = p.labels;
}

// No file: plain HTTP without auth.
Result<WebConfig> load_web_config_of(const AgentConfig& c) {
  if (c.web_config_file.empty()) return WebConfig{};
  return load_web_config(c.web_config_file);
}

void apply_logging(const AgentConfig& c) {
  log::set_level(c.log_level);
  log::set_format(c.log_format);
}

// Blocks the signals the loop handles (in every thread created after this) and returns a
// signalfd that delivers them.
int signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return signalfd(-1, &set, SFD_CLOEXEC);
}

class Daemon {
 public:
  Daemon(const ConfigFlags& flags, AgentConfig config, std::optional<KubeEndpoint> kube_endpoint,
         HttpServer& server, const DaemonHooks& hooks)
      : flags_(flags),
        server_(server),
        config_(std::move(config)),
        reload_ok_(registry_
                       .gauge("goscry_config_last_reload_successful",
                              "Whether the last configuration reload succeeded (1) or not (0).")
                       .with({})),
        reload_time_(registry_
                         .gauge("goscry_config_last_reload_success_timestamp_seconds",
                                "When the configuration was last loaded successfully.")
                         .with({})),
        reload_failures_(registry_
                             .counter("goscry_config_reload_failures_total",
                                      "Configuration reloads (SIGHUP) that failed; the running "
                                      "config was kept.")
                             .with({})),
        kube_(registry_),
        metrics_(registry_, config_.site_cap, config_.kube.pod_labels),
        targets_(sources(hooks), metrics_, registry_),
        memory_(registry_),
        on_config_(hooks.on_config) {
    prometheus::register_process_metrics(registry_);
    registry_
        .gauge("goscry_build_info", "goscry's version and compiler (always 1).",
               {"version", "compiler"})
        .with({GOSCRY_VERSION, std::string("gcc ") + __VERSION__})
        .set(1);
    reload_ok_.set(1);
    reload_time_.set(unix_now());
    kube_.configure(std::move(kube_endpoint), config_.kube);
    targets_.set_enricher([this](TargetInfo& t) {
      if (t.container_id.empty()) return;
      if (auto pod = kube_.find(t.container_id)) apply_pod_identity(t, *pod);
    });
    targets_.configure(target_settings(config_));
    configure_memory();
    targets_.on_added([this] { memory_.enforce(); });
    registry_.add_collector([this] { targets_.publish(); });
    for (const auto& [path, what] : hooks.links) links_.push_back({path, what});
    if (hooks.add_metrics) hooks.add_metrics(registry_);
    if (on_config_) on_config_(config_);
  }

  void add_routes() {
    HttpServer& server = server_;
    server.get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::string body;
      registry_.render(body);
      res.set_content(std::move(body), std::string(prometheus::kContentType).c_str());
    });
    server.get_light("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain; charset=utf-8");
    });
    server.get("/api/v1/targets", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(json_report::to_line(targets_report(targets_.snapshot())) + "\n",
                      "application/json");
    });
    server.get("/", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(index_html(targets_.snapshot(), links_, memory_.view()),
                      "text/html; charset=utf-8");
    });
  }

  // Runs until SIGINT/SIGTERM; SIGHUP reloads.
  void loop(int sfd) {
    scan();
    for (;;) {
      pollfd p{sfd, POLLIN, 0};
      int n = poll(&p, 1, int(config_.scan_interval.count()));
      if (n == 0) {
        scan();
        continue;
      }
      if (n < 0) continue;  // EINTR
      signalfd_siginfo si{};
      if (read(sfd, &si, sizeof si) != sizeof si) continue;
      if (si.ssi_signo == SIGHUP) {
        reload();
        scan();
        continue;
      }
      log::info("stopping", {{"signal", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM"}});
      return;
    }
  }

 private:
  // New targets are indexed here, so the memory they cost is measured right after.
  void scan() {
    targets_.refresh();
    memory_.enforce();
    shed_if_over_budget();
  }

  // Still over the budget once pages are released and the heap trimmed: one target's
  // leak snapshots go, the largest first, one per scan, so the agent shrinks a step at a
  // time rather than being OOM-killed (docs/agent.md "Memory budget").
  void shed_if_over_budget() {
    auto view = memory_.view();
    if (!view || !view->over_budget) return;
    const std::string shed = targets_.shed_one_target();
    if (shed.empty()) return;
    memory_.count_shed_target();
    log::warn("over the memory budget: a target's watch given up",
              {{"source_pid", shed},
               {"resident_mib",
                std::to_string((view->resident.file_bytes + view->resident.anon_bytes) >> 20)},
               {"budget_mib", std::to_string(view->budget_bytes >> 20)}});
  }

  void configure_memory() {
    memory_.configure(std::uint64_t(config_.memory_budget_mib) << 20,
                      std::uint64_t(config_.symbol_cache_mib) << 20);
  }

  std::vector<TargetSource*> sources(const DaemonHooks& hooks) {
    std::vector<TargetSource*> s = {&proc_};
    s.insert(s.end(), hooks.sources.begin(), hooks.sources.end());
    return s;
  }

  // All or nothing: the new config and web config are parsed and checked completely
  // before any of it is applied, so a bad file leaves the running config untouched.
  void reload() {
    auto failed = [this](const std::string& why) {
      reload_ok_.set(0);
      reload_failures_.inc();
      log::error("config reload failed; keeping the running config", {{"error", why}});
    };
    auto next = load_agent_config(flags_);
    if (!next) return failed(next.error().message);
    auto web = load_web_config_of(*next);
    if (!web) return failed(web.error().message);
    auto kube = kube_endpoint_of(*next);
    if (!kube) return failed(kube.error().message);
    if (auto r = server_.reload(*web); !r) return failed(r.error().message);
    if (next->listen != config_.listen || next->health_listen != config_.health_listen)
      log::warn("listen and health_listen take effect only at restart");
    next->listen = config_.listen;
    next->health_listen = config_.health_listen;
    if (next->kube.pod_labels != config_.kube.pod_labels)
      log::warn("pod_labels take effect only at restart");
    next->kube.pod_labels = config_.kube.pod_labels;
    config_ = *next;
    apply_logging(config_);
    metrics_.set_site_cap(config_.site_cap);
    kube_.configure(std::move(*kube), config_.kube);
    targets_.configure(target_settings(config_));
    configure_memory();
    if (on_config_) on_config_(config_);
    reload_ok_.set(1);
    reload_time_.set(unix_now());
    log::info("config reloaded", {{"targets", std::to_string(config_.targets.size())},
                                  {"all", config_.all ? "true" : "false"},
                                  {"site_cap", std::to_string(config_.site_cap)},
                                  {"log_level", std::string(log::level_name(config_.log_level))}});
  }

  ConfigFlags flags_;
  HttpServer& server_;
  AgentConfig config_;
  prometheus::Registry registry_;
  prometheus::Gauge& reload_ok_;
  prometheus::Gauge& reload_time_;
  prometheus::Counter& reload_failures_;
  KubePods kube_;
  TargetMetrics metrics_;
  ProcTargetSource proc_;
  TargetSet targets_;
  MemoryBudget memory_;
  std::function<void(const AgentConfig&)> on_config_;
  std::vector<PageLinks> links_ = {{"/metrics", "Prometheus metrics"},
                                   {"/api/v1/targets", "targets as JSON"},
                                   {"/healthz", "health check"}};
};

// Binds the main listener and the health one when asked for; the main one's bound address
// (port 0 picks one), or the error, logged.
Result<std::string> bind_listeners(HttpServer& server, const AgentConfig& config) {
  auto listen = parse_listen_address(config.listen);
  auto bound = server.bind(listen->first, listen->second);
  if (!bound) {
    log::error(bound.error().message);
    return bound;
  }
  if (!config.health_listen.empty()) {
    auto h = parse_listen_address(config.health_listen);
    auto health = server.bind_health(h->first, h->second);
    if (!health) {
      log::error("health_listen: " + health.error().message);
      return health;
    }
    log::info("health listener", {{"address", *health}});
    std::printf("health on %s\n", health->c_str());
  }
  return bound;
}

// The bound address on stdout whatever the log level: with --listen HOST:0 this is how a
// caller (a test, a script) learns the port.
void announce(const std::string& bound, const HttpServer& server, const WebConfig& web,
              const AgentConfig& config) {
  std::printf("listening on %s\n", bound.c_str());
  std::fflush(stdout);
  log::info("listening", {{"address", bound},
                          {"tls", server.tls() ? "true" : "false"},
                          {"basic_auth", web.basic_auth_users.empty() ? "false" : "true"}});
  if (config.targets.empty() && !config.all)
    log::warn("no targets yet: give --pid, --all, or targets in --config (and send SIGHUP)");
}

}  // namespace

int run_daemon(const ConfigFlags& flags, const DaemonHooks& hooks) {
  int sfd = signal_fd();  // before any thread starts, so they all inherit the mask
  bound_allocator_caches();
  auto config = load_agent_config(flags);
  if (!config) {
    log::error("bad configuration: " + config.error().message);
    return exit_code(config.error());
  }
  apply_logging(*config);
  auto web = load_web_config_of(*config);
  if (!web) {
    log::error("bad web config: " + web.error().message);
    return exit_code(web.error());
  }
  auto kube = kube_endpoint_of(*config);
  if (!kube) {
    log::error("bad configuration: " + kube.error().message);
    return exit_code(kube.error());
  }
  if (*kube) log::info("kubernetes pod list", {{"url", (*kube)->url}});
  auto server = HttpServer::create(*web);
  if (!server) {
    log::error(server.error().message);
    return exit_code(server.error());
  }
  Daemon daemon(flags, *config, std::move(*kube), **server, hooks);
  daemon.add_routes();
  if (hooks.add_routes) hooks.add_routes(**server);
  auto bound = bind_listeners(**server, *config);
  if (!bound) return exit_code(bound.error());
  (*server)->start();
  announce(*bound, **server, *web, *config);
  daemon.loop(sfd);
  if (hooks.on_stop) hooks.on_stop();
  (*server)->stop();
  close(sfd);
  log::info("stopped");
  return kExitOk;
}

}  // namespace goscry
