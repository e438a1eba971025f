#include "tests/support/top_reports.h"

#include <unistd.h>

#include <cstdio>

#include "agent/base/monotonic_clock.h"
#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"

namespace goscry::testing {

using nlohmann::json;

ChurnState next_state(ChildProcess& fixture) {
  auto line = fixture.read_line();
  EXPECT_TRUE(line && line->starts_with("state ")) << "fixture said: " << line.value_or("EOF");
  return parse_churn_state(line.value_or(""));
}

const json* site_of(const json& sites, const std::string& function) {
  for (const auto& s : sites)
    if (s["site"].get<std::string>() == function ||
        s["site"].get<std::string>().starts_with(function + " "))
      return &s;
  return nullptr;
}

namespace {
// The site in either list of a report: sites_by_live or sites_ended.
const json* any_site_of(const json& top, const std::string& function) {
  const json* s = site_of(top["sites_by_live"], function);
  return s ? s : site_of(top["sites_ended"], function);
}
}  // namespace

void expect_top_matches(const json& top, const ChurnState& st, const ChurnState& begin,
                        bool since_attach) {
  SCOPED_TRACE(st.label);
  EXPECT_EQ(top["goroutines"]["live"].get<std::int64_t>(), st.goroutines);
  std::uint64_t created = 0, exited = 0;
  for (const auto& [name, truth] : st.sites) {
    const json* s = site_of(top["sites_by_live"], name);
    const json* ended = site_of(top["sites_ended"], name);
    const std::int64_t live = std::int64_t(truth.created) - std::int64_t(truth.exited);
    // Top by live lists only sites with goroutines alive; those whose all ended, apart.
    if (s) {
      EXPECT_GT((*s)["live"].get<std::int64_t>(), 0) << name;
    }
    if (ended) {
      EXPECT_EQ((*ended)["live"].get<std::int64_t>(), 0) << name;
    }
    EXPECT_FALSE(s && ended) << name;
    if (!s) s = ended;
    if (!s) {
      EXPECT_EQ(live, 0) << name << " missing from " << top.dump();
      continue;
    }
    EXPECT_EQ((*s)["live"].get<std::int64_t>(), live) << name;
    if (!since_attach) continue;
    const auto& b = begin.sites.at(name);
    EXPECT_EQ((*s)["created"].get<std::uint64_t>(), truth.created - b.created) << name;
    EXPECT_EQ((*s)["exited"].get<std::uint64_t>(), truth.exited - b.exited) << name;
    created += truth.created - b.created;
    exited += truth.exited - b.exited;
  }
  if (since_attach) {
    EXPECT_EQ(top["goroutines"]["created"].get<std::uint64_t>(), created);
    EXPECT_EQ(top["goroutines"]["exited"].get<std::uint64_t>(), exited);
  }
}

json report_after(ChildProcess& top, std::int64_t after_ns) {
  for (;;) {
    // Two minutes: goscry at nice 19 under busy loops on every CPU gets a sliver of a CPU,
    // and a report is late, not wrong (it took over 30 s once at 78,605 goroutines).
    auto line = top.read_line(120000);
    if (!line) return json();
    json j = json::parse(*line, nullptr, false);
    if (j.is_object() && j.value("monotonic_ns", std::int64_t(0)) > after_ns) return j;
  }
}

void attach_while_goroutines_come_and_go(const char* machine, int goscry_nice) {
  for (const auto& f : all_fixtures("churn")) {
    if (f.variant != "plain") continue;  // the other variants change where, not what
    SCOPED_TRACE(f.label());
    ChildProcess fixture({f.path}, {"CHURN_MODE=busy"});
    ASSERT_EQ(fixture.read_line(), "ready");
    ChildProcess top({"nice", "-n", std::to_string(goscry_nice), goscry_binary(), "top", "--pid",
                      std::to_string(fixture.pid()), "--interval", "100ms", "--format", "json",
                      "--top", "50"});
    // Three minutes, for the reason report_after gives: at nice 19 beside busy loops goscry
    // gets under 1 % of a CPU, and the attach's ~0.3 s of CPU (BPF load, allgs) takes 40 s+.
    ASSERT_TRUE(attached(top, 180000));
    usleep(200000);  // churn on under the probes
    fixture.write_line();
    json before;
    ChurnState prev;
    for (int phase = 0; phase < 3; ++phase) {
      ChurnState st = next_state(fixture);
      json report = report_after(top, monotonic_ns());
      ASSERT_TRUE(report.is_object()) << top.rest_of_stderr();
      expect_top_matches(report, st, st, false);
      const auto lost = report["lost"].get<std::uint64_t>();
      const auto live = report["goroutines"]["live"].get<std::int64_t>();
      std::printf("%s, %s machine, phase %d: %llu events lost, live %lld, NumGoroutine %lld, "
                  "error %lld\n",
                  f.label().c_str(), machine, phase, (unsigned long long)lost, (long long)live,
                  (long long)st.goroutines, (long long)(live - st.goroutines));
      EXPECT_EQ(lost, 0u);
      if (phase == 0) {
        const json* parked = site_of(report["sites_by_live"], "main.spawnBusyParked");
        ASSERT_NE(parked, nullptr);
        EXPECT_GT(st.sites["main.spawnBusyParked"].created, 0u);
      } else {
        // Between two quiescent points the probes know every goroutine.
        for (const auto& [name, truth] : st.sites) {
          const json* s = any_site_of(report, name);
          const json* b = any_site_of(before, name);
          const std::uint64_t exited = s ? (*s)["exited"].get<std::uint64_t>() : 0;
          const std::uint64_t exited_before = b ? (*b)["exited"].get<std::uint64_t>() : 0;
          EXPECT_EQ(exited - exited_before, truth.exited - prev.sites[name].exited) << name;
        }
      }
      before = report;
      prev = st;
      fixture.write_line();
    }
    EXPECT_EQ(fixture.wait(), 0);
  }
}

}  // namespace goscry::testing
