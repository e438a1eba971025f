// The agent's parsers on their own: YAML settings, listen addresses, durations, basic-auth
// headers against the published bcrypt vector, log lines (read back by a JSON parser and
// a logfmt reading), and the Go version of every fixture against `go version`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/daemon/agent_config.h"
#include "agent/http/basic_auth.h"
#include "agent/goruntime/go_version.h"
#include "agent/base/log.h"
#include "agent/daemon/target_metrics.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using namespace std::chrono_literals;

TEST(AgentConfig, ParsesEveryKeyAndRejectsUnknownOnes) {
  auto c = parse_agent_config(
      "targets: [12, 34]\nall: true\nlisten: '[::1]:0'\nmax_targets: 7\nsite_cap: 3\n"
      "grace_period: 2m\nscan_interval: 250ms\nlog_level: debug\nlog_format: json\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->targets, (std::vector<pid_t>{12, 34}));
  EXPECT_TRUE(c->all);
  EXPECT_EQ(c->max_targets, 7u);
  EXPECT_EQ(c->site_cap, 3u);
  EXPECT_EQ(c->grace_period, 120s);
  EXPECT_EQ(c->scan_interval, 250ms);
  EXPECT_EQ(c->log_level, log::Level::kDebug);
  EXPECT_EQ(c->log_format, log::Format::kJson);

  EXPECT_EQ(parse_agent_config("sitecap: 3\n").error().message, "unknown key \"sitecap\"");
  EXPECT_EQ(parse_agent_config("grace_period: 5 minutes\n").error().message,
            "grace_period: bad duration \"5 minutes\": unknown unit \" minutes\" (Go's syntax: "
            "500ms, 30s, 1.5m, 2h45m)");
  EXPECT_EQ(parse_agent_config("targets: 12\n").error().message,
            "targets: must be a list of pids");
  EXPECT_EQ(parse_agent_config("targets: [0]\n").error().message,
            "targets: must be between 1 and 4194304");
  EXPECT_EQ(parse_agent_config("log_level: loud\n").error().message,
            "log_level: unknown log level \"loud\" (debug, info, warn or error)");
  EXPECT_EQ(parse_agent_config("scan_interval: 1ms\n").error().message,
            "scan_interval: must be at least 10ms, not 1ms");
  EXPECT_EQ(parse_agent_config("- a\n- b\n").error().message,
            "must be a YAML mapping of settings");
  EXPECT_TRUE(parse_agent_config(""));  // all defaults
}

// docs/agent.md "Memory budget": sized for a 256 MiB DaemonSet limit by default.
TEST(AgentConfig, MemoryBudgetKeys) {
  auto defaults = parse_agent_config("");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->memory_budget_mib, 192u);
  EXPECT_EQ(defaults->symbol_cache_mib, 48u);
  auto c = parse_agent_config("memory_budget_mib: 96\nsymbol_cache_mib: 16\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->memory_budget_mib, 96u);
  EXPECT_EQ(c->symbol_cache_mib, 16u);
  EXPECT_EQ(parse_agent_config("symbol_cache_mib: 0\n").error().message,
            "symbol_cache_mib: must be between 1 and 1048576");
}

TEST(AgentConfig, FlagsWinOverTheFile) {
  ConfigFlags flags;
  flags.pids = {99};
  flags.listen = "127.0.0.1:0";
  flags.log_level = "warn";
  auto c = load_agent_config(flags);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->targets, std::vector<pid_t>{99});
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->log_level, log::Level::kWarn);
  EXPECT_EQ(c->grace_period, 30s);
  flags.config_file = "/nonexistent/agent.yml";
  EXPECT_EQ(load_agent_config(flags).error().message, "--config /nonexistent/agent.yml: No such file or directory");
}

TEST(AgentConfig, ListenAddresses) {
  using HostPort = std::pair<std::string, int>;
  EXPECT_EQ(*parse_listen_address("127.0.0.1:19464"), HostPort("127.0.0.1", 19464));
  EXPECT_EQ(*parse_listen_address("[::1]:0"), HostPort("::1", 0));
  EXPECT_EQ(*parse_listen_address(":80"), HostPort("0.0.0.0", 80));
  EXPECT_FALSE(parse_listen_address("localhost"));
  EXPECT_FALSE(parse_listen_address("localhost:http"));
  EXPECT_FALSE(parse_listen_address("localhost:65536"));
}

// bcrypt("U*U", salt "CCCCCCCCCCCCCCCCCCCCC.") — the OpenBSD / John the Ripper test vector.
constexpr const char* kVector = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

TEST(BasicAuth, ChecksThePublishedBcryptVector) {
  EXPECT_TRUE(is_bcrypt_hash(kVector));
  EXPECT_TRUE(bcrypt_matches("U*U", kVector));
  EXPECT_FALSE(bcrypt_matches("U*V", kVector));
  EXPECT_FALSE(bcrypt_matches("", kVector));
  EXPECT_FALSE(is_bcrypt_hash("$1$saltsalt$hash"));         // MD5-crypt
  EXPECT_FALSE(is_bcrypt_hash(std::string(kVector) + "x"));  // wrong length
  EXPECT_FALSE(is_bcrypt_hash("$2b$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
}

TEST(BasicAuth, AuthorizationHeaders) {
  BasicAuth auth(std::map<std::string, std::string>{{"alice", kVector}});
  EXPECT_TRUE(auth.allows("Basic YWxpY2U6VSpV"));   // alice:U*U
  EXPECT_TRUE(auth.allows("basic YWxpY2U6VSpV"));   // the scheme is case-insensitive
  EXPECT_TRUE(auth.allows("Basic YWxpY2U6VSpV"));   // again, from the cache
  EXPECT_FALSE(auth.allows("Basic YWxpY2U6VSpW"));  // alice:U*W
  EXPECT_FALSE(auth.allows("Basic Ym9iOlUqVQ=="));  // bob:U*U
  EXPECT_FALSE(auth.allows("Basic YWxpY2U="));      // alice (no colon)
  EXPECT_FALSE(auth.allows("Basic !!!!"));
  EXPECT_FALSE(auth.allows("Bearer YWxpY2U6VSpV"));
  EXPECT_FALSE(auth.allows(""));
}

TEST(Log, JsonLinesParseBackWithEveryField) {
  std::string line = log::format_line(log::Format::kJson, log::Level::kWarn, "target added",
                                      {{"pid", "42"}, {"exe", "/bin/\"x\"\n\xff"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::ordered_json::parse(line);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "target added");
  EXPECT_EQ(j["pid"], "42");
  EXPECT_EQ(j["exe"], "/bin/\"x\"\n\xEF\xBF\xBD");
  EXPECT_EQ(j.begin().key(), "ts");
}

TEST(Log, TextLinesAreLogfmt) {
  std::string line = log::format_line(log::Format::kText, log::Level::kInfo, "target added",
                                      {{"pid", "42"}, {"exe", "/a b/\"c\"\n"}, {"empty", ""}});
  auto fields = line.substr(line.find(" level="));
  EXPECT_EQ(fields,
            R"( level=info msg="target added" pid=42 exe="/a b/\"c\"\n" empty="")");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(GoVersion, EveryFixtureMatchesGoVersion) {
  auto fixtures = testing::all_fixtures();
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    auto oracle = testing::run_command({testing::go_command(), "version", f.path});
    auto v = go_version_of_file(f.path);
    ASSERT_TRUE(v) << f.label() << ": " << v.error().message;
    EXPECT_EQ(oracle.out, f.path + ": " + *v + "\n") << f.label();
    EXPECT_EQ(v->rfind(f.go_version, 0), 0u) << f.label();
  }
  auto not_go = go_version_of_file("/bin/true");
  ASSERT_FALSE(not_go);
  EXPECT_EQ(not_go.error().message, "/bin/true: no .go.buildinfo (not a Go binary?)");
}

TEST(TargetMetrics, SampleBudgetPerTargetMatchesWhatIsRendered) {
  prometheus::Registry r;
  TargetMetrics m(r, 5);
  TargetFigures f;
  f.goroutines = 1;
  f.goroutines_created_total = 2;
  f.goroutines_exited_total = 1;
  f.gc_cycles_total = 5;
  f.gc_cycles_by_trigger = std::map<std::string, std::uint64_t>{
      {"heap", 1}, {"time", 1}, {"runtime.GC", 1}, {"debug.FreeOSMemory", 1}, {"unknown", 1}};
  f.go_heap_goal_bytes = 8 << 20;
  f.go_heap_live_bytes = 4 << 20;
  f.go_gogc_percent = 100;
  f.go_memory_limit_bytes = 1 << 30;
  f.gc_assist_seconds_total = 0.5;
  f.gc_mark_worker_seconds_total =
      std::map<std::string, double>{{"dedicated", 1}, {"fractional", 0.5}, {"idle", 0.25}};
  std::vector<prometheus::Ranked> sites;
  for (int i = 0; i < 20; ++i) sites.push_back({"main.f" + std::to_string(i), double(i)});
  f.goroutines_by_site = sites;
  for (const char* phase : {"sweep termination", "mark termination", "other"})
    f.stw_pauses[phase] =
        PauseCounts{std::vector<std::uint64_t>(kStwPauseBucketsSeconds.size() + 1, 1), 0.5};
  f.gc_mark_phase =
      PauseCounts{std::vector<std::uint64_t>(kMarkPhaseBucketsSeconds.size() + 1, 1), 0.5};
  f.leak_suspects_by_site = sites;
  f.alloc_bytes_by_site = sites;
  m.publish(TargetInfo{7, 1, "/x", "go1.26.8"}, f);
  size_t samples = 0;
  for (const auto& line : testing::split_lines(r.render()))
    samples += !line.empty() && line[0] != '#' && line.find("pid=\"7\"") != std::string::npos;
  EXPECT_EQ(samples, TargetMetrics::max_samples_per_target(5));
  m.remove(TargetInfo{7, 1, "/x", "go1.26.8"});
  EXPECT_EQ(r.render().find("pid=\"7\""), std::string::npos);
}

}  // namespace
}  // namespace goscry

namespace goscry {
namespace {

TEST(TargetMetrics, ANewSiteCapAppliesAtTheNextPublish) {
  prometheus::Registry r;
  TargetMetrics m(r, 10);
  TargetFigures f;
  std::vector<prometheus::Ranked> sites;
  for (int i = 0; i < 30; ++i) sites.push_back({"main.f" + std::to_string(i), double(i)});
  f.goroutines_by_site = sites;
  TargetInfo t{7, 1, "/x", "go1.26.8"};
  auto site_series = [&] {
    size_t n = 0;
    for (const auto& line : testing::split_lines(r.render()))
      n += line.rfind("goscry_goroutines_by_creation_site{", 0) == 0;
    return n;
  };
  m.publish(t, f);
  EXPECT_EQ(site_series(), 11u);
  m.set_site_cap(3);
  EXPECT_EQ(m.site_cap(), 3u);
  m.publish(t, f);
  EXPECT_EQ(site_series(), 4u);
  EXPECT_NE(r.render().find("goscry_label_cap_folded_series{metric=\"goscry_goroutines_by_"
                            "creation_site\"} 27\n"),
            std::string::npos)
      << r.render();
}

}  // namespace
}  // namespace goscry
