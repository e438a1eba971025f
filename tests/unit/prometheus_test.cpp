#include "exporters/prometheus.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "exporters/cardinality_cap.h"
#include "exporters/process_metrics.h"
#include "tests/support/fixtures.h"

namespace goscry::prometheus {
namespace {

using goscry::testing::run_command;

// promtool is the reference consumer: exit 0 and not a single lint complaint.
void expect_promtool_accepts(const std::string& text) {
  auto r = run_command({"promtool", "check", "metrics"}, text);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\n--- input ---\n" << text;
  EXPECT_EQ(r.out + r.err, "") << "\n--- input ---\n" << text;
}

std::string escaped(std::string_view v) {
  std::string out;
  append_escaped_label_value(out, v);
  return out;
}

TEST(PrometheusText, EscapesBackslashQuoteAndNewlineOnlyInLabelValues) {
  EXPECT_EQ(escaped(R"(C:\dir)"), R"(C:\\dir)");
  EXPECT_EQ(escaped(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(escaped("two\nlines"), R"(two\nlines)");
  // Go symbols keep every character: parentheses, stars, dots, brackets, slashes.
  for (std::string_view go : {"main.(*T).M", "main.F[...]", "example.com/pkg/v2.G[go.shape.int]",
                              "main.main.func1.gowrap2", "runtime.gopark"})
    EXPECT_EQ(escaped(go), go);
}

TEST(PrometheusText, EscapesHelpButLeavesQuotes) {
  std::string out;
  append_escaped_help(out, "a \"quoted\" \\ path\nsecond line");
  EXPECT_EQ(out, R"(a "quoted" \\ path\nsecond line)");
}

TEST(PrometheusText, FormatsValuesPrometheusParses) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-0.0), "0");
  EXPECT_EQ(format_value(1), "1");
  EXPECT_EQ(format_value(-42), "-42");
  EXPECT_EQ(format_value(1024), "1024");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(1e-7), "1e-07");
  EXPECT_EQ(format_value(0.0001), "0.0001");
  EXPECT_EQ(format_value(0.00001), "1e-05");
  EXPECT_EQ(format_value(123456.5), "123456.5");
  EXPECT_EQ(format_value(1234567.5), "1.2345675e+06");
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(format_value(9007199254740993.0), "9007199254740992");  // nearest double
  EXPECT_EQ(format_value(1e20), "100000000000000000000");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(PrometheusText, FormattedValuesReadBackToTheSameDouble) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::uint64_t> bits;
  for (int i = 0; i < 100000; ++i) {
    std::uint64_t b = bits(rng);
    double v;
    std::memcpy(&v, &b, sizeof v);
    if (std::isnan(v)) continue;
    std::string s = format_value(v);
    double back = std::strtod(s.c_str(), nullptr);
    ASSERT_EQ(back, v) << s;
  }
}

TEST(PrometheusText, ReplacesInvalidUtf8AndKeepsValidText) {
  EXPECT_EQ(to_valid_utf8("main.f\xff\xfeg"), "main.f\xEF\xBF\xBDg");
  EXPECT_EQ(to_valid_utf8("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x90\xb9"));   // U+1F439
}

TEST(PrometheusNaming, RejectsWhatPromtoolLintsAtRegistration) {
  Registry r;
  EXPECT_THROW(r.counter("goscry_events", "no _total"), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry_targets_total", "a gauge with _total"), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry_pause_milliseconds", "not a base unit"), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry_size_kb", "an abbreviation"), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscryTargets", "camelCase"), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry_x_count", "reserved suffix"), std::invalid_argument);
  EXPECT_THROW(r.gauge("1goscry", "leading digit"), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry-x", "dash"), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry_x", "h", {"le"}), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry_x", "h", {"__name"}), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry_x", "h", {"pid", "pid"}), std::invalid_argument);
  EXPECT_THROW(r.gauge("goscry_x", "h", {"siteName"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("goscry_h_seconds", "h", {}, {0.1, 0.1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("goscry_h_seconds", "h", {}, {std::nan("")}), std::invalid_argument);
  EXPECT_NO_THROW(r.counter("goscry_gc_cycles_total", "ok", {"pid"}));
  EXPECT_NO_THROW(r.gauge("goscry_x:ratio", "colons are allowed"));
  // The same definition twice is the same family; a different one is a bug.
  EXPECT_EQ(&r.counter("goscry_gc_cycles_total", "ok", {"pid"}),
            &r.counter("goscry_gc_cycles_total", "ok", {"pid"}));
  EXPECT_THROW(r.gauge("goscry_gc_cycles_total", "ok", {"pid"}), std::invalid_argument);
  EXPECT_THROW(r.counter("goscry_gc_cycles_total", "ok", {"exe"}), std::invalid_argument);
}

TEST(PrometheusRegistry, LabelValuesOfTheWrongArityThrow) {
  Registry r;
  auto& f = r.gauge("goscry_goroutines", "h", {"pid", "exe"});
  EXPECT_THROW(f.with({"1"}), std::invalid_argument);
  EXPECT_NO_THROW(f.with({"1", "/bin/x"}));
}

TEST(PrometheusRegistry, RendersOneSortedGroupPerFamily) {
  Registry r;
  // Registered out of order, and updated interleaved: the output still groups by family.
  auto& goroutines = r.gauge("goscry_goroutines", "Live goroutines.", {"pid"});
  auto& created = r.counter("goscry_goroutines_created_total", "Goroutines created.", {"pid"});
  auto& lost = r.counter("goscry_events_lost_total", "Events lost.\nPer ring \\ map.");
  goroutines.with({"200"}).set(7);
  created.with({"100"}).inc(3);
  goroutines.with({"100"}).set(12);
  created.with({"200"}).inc();
  created.with({"200"}).inc(-5);  // ignored: counters only go up
  lost.with({}).inc(2);
  r.gauge("goscry_unused", "Never set: no series, no header.", {"pid"});

  EXPECT_EQ(r.render(),
            "# HELP goscry_events_lost_total Events lost.\\nPer ring \\\\ map.\n"
            "# TYPE goscry_events_lost_total counter\n"
            "goscry_events_lost_total 2\n"
            "# HELP goscry_goroutines Live goroutines.\n"
            "# TYPE goscry_goroutines gauge\n"
            "goscry_goroutines{pid=\"100\"} 12\n"
            "goscry_goroutines{pid=\"200\"} 7\n"
            "# HELP goscry_goroutines_created_total Goroutines created.\n"
            "# TYPE goscry_goroutines_created_total counter\n"
            "goscry_goroutines_created_total{pid=\"100\"} 3\n"
            "goscry_goroutines_created_total{pid=\"200\"} 1\n");
  EXPECT_EQ(r.series_count(), 5u);
}

TEST(PrometheusRegistry, RendersCumulativeHistogramBuckets) {
  Registry r;
  auto& h = r.histogram("goscry_gc_stw_pause_seconds", "STW pauses.", {"pid", "phase"},
                        {0.0001, 0.001, 0.01});
  auto& s = h.with({"7", "sweep_termination"});
  for (double v : {0.00005, 0.0001, 0.0005, 0.002, 0.5}) s.observe(v);
  s.add_to_bucket(1, 2, 0.0012);  // two pauses bucketed in BPF, <= 1ms
  const std::string b = "goscry_gc_stw_pause_seconds_bucket{pid=\"7\",phase=\"sweep_termination\",";
  EXPECT_EQ(r.render(),
            "# HELP goscry_gc_stw_pause_seconds STW pauses.\n"
            "# TYPE goscry_gc_stw_pause_seconds histogram\n" +
                b + "le=\"0.0001\"} 2\n" + b + "le=\"0.001\"} 5\n" + b + "le=\"0.01\"} 6\n" + b +
                "le=\"+Inf\"} 7\n"
                "goscry_gc_stw_pause_seconds_sum{pid=\"7\",phase=\"sweep_termination\"} " +
                format_value(0.00005 + 0.0001 + 0.0005 + 0.002 + 0.5 + 0.0012) +
                "\n"
                "goscry_gc_stw_pause_seconds_count{pid=\"7\",phase=\"sweep_termination\"} 7\n");
}

TEST(PrometheusRegistry, RemovesSeriesOfAGoneTarget) {
  Registry r;
  auto& g = r.gauge("goscry_goroutines", "h", {"pid"});
  g.with({"1"}).set(1);
  g.with({"2"}).set(2);
  EXPECT_EQ(g.remove_if([](const LabelValues& v) { return v[0] == "1"; }), 1u);
  g.remove({"2"});
  EXPECT_EQ(r.render(), "");
}

TEST(PrometheusRegistry, InvalidUtf8LabelValuesAreOneSeries) {
  Registry r;
  auto& g = r.gauge("goscry_x", "h", {"site"});
  g.with({"main.f\xff"}).set(1);
  g.with({"main.f\xfe"}).set(2);  // reads the same once made valid: the same series
  EXPECT_EQ(g.size(), 1u);
  EXPECT_EQ(r.render(),
            "# HELP goscry_x h\n# TYPE goscry_x gauge\ngoscry_x{site=\"main.f\xEF\xBF\xBD\"} 2\n");
}

TEST(CardinalityCap, KeepsTheTopNAndSumsTheRestIntoOther) {
  TopN t = top_n({{"a", 5}, {"b", 9}, {"c", 1}, {"d", 9}, {"e", 3}, {"b", 1}}, 2);
  ASSERT_EQ(t.kept.size(), 2u);
  EXPECT_EQ(t.kept[0].label, "b");  // 9 + 1
  EXPECT_EQ(t.kept[0].value, 10);
  EXPECT_EQ(t.kept[1].label, "d");
  EXPECT_EQ(t.folded, 3u);  // a, e, c
  EXPECT_EQ(t.other, 9);
  // A site literally called "other" cannot get its own series.
  TopN u = top_n({{"other", 100}, {"x", 1}}, 5);
  ASSERT_EQ(u.kept.size(), 1u);
  EXPECT_EQ(u.kept[0].label, "x");
  EXPECT_EQ(u.other, 100);
  EXPECT_EQ(u.folded, 1u);
}

TEST(CardinalityCap, BoundsSeriesPerTargetAndCountsTheFolded) {
  Registry r;
  CappedGaugeFamily sites(r, "goscry_goroutines_by_creation_site", "Live goroutines by site.",
                          {"pid"}, "site", 3);
  std::vector<Ranked> many;
  for (int i = 0; i < 100; ++i) many.push_back({"main.worker" + std::to_string(i), double(i)});
  sites.update({"1"}, many);
  sites.update({"2"}, {{"main.(*T).M", 4}, {"main.F[...]", 2}});
  EXPECT_EQ(sites.family().size(), 4u + 2u);
  std::string text = r.render();
  EXPECT_NE(text.find("goscry_goroutines_by_creation_site{pid=\"1\",site=\"main.worker99\"} 99\n"),
            std::string::npos);
  EXPECT_NE(text.find("goscry_goroutines_by_creation_site{pid=\"1\",site=\"other\"} 4656\n"),
            std::string::npos);  // 0 + 1 + ... + 96
  EXPECT_EQ(text.find("pid=\"2\",site=\"other\""), std::string::npos);
  const std::string folded =
      "goscry_label_cap_folded_series{metric=\"goscry_goroutines_by_creation_site\"} ";
  EXPECT_NE(text.find(folded + "97\n"), std::string::npos);

  // A site that drops out of the top N loses its series; a gone target loses all of them.
  sites.update({"1"}, {{"main.worker0", 1000}});
  sites.remove({"2"});
  EXPECT_EQ(sites.family().size(), 1u);
  text = r.render();
  EXPECT_NE(text.find("{pid=\"1\",site=\"main.worker0\"} 1000\n"), std::string::npos);
  EXPECT_NE(text.find(folded + "0\n"), std::string::npos);
  expect_promtool_accepts(text);
}

// The cap must hold in every scrape, including one that runs while a target's top N is
// being replaced by a disjoint set.
TEST(CardinalityCap, HoldsInRendersConcurrentWithUpdates) {
  Registry r;
  CappedGaugeFamily sites(r, "goscry_goroutines_by_creation_site", "h", {"pid"}, "site", 5);
  std::vector<Ranked> even, odd;
  for (int i = 0; i < 20; ++i) (i % 2 ? odd : even).push_back({"s" + std::to_string(i), double(i)});
  sites.update({"1"}, even);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) sites.update({"1"}, i % 2 ? odd : even);
    done = true;
  });
  size_t renders = 0, worst = 0;
  while (!done) {
    std::string text = r.render();
    size_t series = 0;
    for (size_t at = 0; (at = text.find("\ngoscry_goroutines_by_creation_site{", at)) !=
                        std::string::npos;
         ++at)
      ++series;
    worst = std::max(worst, series);
    ++renders;
  }
  writer.join();
  EXPECT_GT(renders, 0u);
  EXPECT_EQ(worst, 6u) << "5 sites + other, in " << renders << " renders";
}

// Everything at once, with the label values a Go program can produce, through promtool.
TEST(PrometheusRegistry, PromtoolAcceptsTrickyLabelsHistogramsAndTheFold) {
  Registry r;
  register_process_metrics(r);
  auto& h = r.histogram("goscry_gc_stw_pause_seconds", "Stop-the-world \"pauses\" \\ GC.",
                        {"pid", "phase"}, {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1});
  h.with({"1", "mark_termination"}).observe(3e-5);
  h.with({"1", "sweep_termination"}).observe(std::numeric_limits<double>::infinity());
  r.counter("goscry_attach_errors_total", "Attach failures.").with({}).inc();
  auto& g = r.gauge("goscry_weird", "Odd values.", {"site"});
  const std::vector<std::string> tricky = {
      "main.(*T).M", "main.F[...]", "a\\b", "quote\"d", "new\nline", "tab\there", "cr\rhere",
      "bad\xff\xfeutf8", "caf\xc3\xa9", "", "{}=,", "#", "\xf0\x9f\x90\xb9"};
  for (size_t i = 0; i < tricky.size(); ++i) g.with({tricky[i]}).set(double(i) - 5.5);
  g.with({"inf"}).set(std::numeric_limits<double>::infinity());
  g.with({"-inf"}).set(-std::numeric_limits<double>::infinity());
  g.with({"nan"}).set(std::nan(""));
  g.with({"huge"}).set(1e300);
  g.with({"tiny"}).set(5e-324);
  CappedGaugeFamily sites(r, "goscry_goroutines_by_creation_site", "Live goroutines by site.",
                          {"pid", "exe"}, "site", 2);
  sites.update({"1", "/srv/a b"}, {{"main.(*T).M", 3}, {"main.F[...]", 2}, {"x\"\\\n", 1}});
  expect_promtool_accepts(r.render());
}

TEST(ProcessMetrics, AgreeWithTheKernelAndLibc) {
  ProcessStats before = read_process_stats();
  ASSERT_TRUE(before.open_fds && before.max_fds && before.cpu_seconds &&
              before.resident_memory_bytes && before.virtual_memory_bytes &&
              before.start_time_seconds);
  // Three more descriptors are three more.
  int fds[3];
  for (int& fd : fds) fd = dup(2);
  ProcessStats with_fds = read_process_stats();
  for (int fd : fds) close(fd);
  EXPECT_EQ(*with_fds.open_fds, *before.open_fds + 3);
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(*before.max_fds, double(limit.rlim_cur));
  // Touching 64 MiB shows up in RSS; resident never exceeds virtual.
  std::vector<char> block(64 << 20, 1);
  ProcessStats touched = read_process_stats();
  EXPECT_GE(*touched.resident_memory_bytes - *before.resident_memory_bytes, 60.0 * (1 << 20));
  EXPECT_LE(*touched.resident_memory_bytes, *touched.virtual_memory_bytes);
  // CPU time matches getrusage to the clock tick.
  volatile double sink = 0;
  for (int i = 0; i < 30000000; ++i) sink = sink + block[i % block.size()];
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  ProcessStats after = read_process_stats();
  double libc = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                ru.ru_stime.tv_usec / 1e6;
  EXPECT_NEAR(*after.cpu_seconds, libc, 0.03);
  EXPECT_GT(*after.cpu_seconds, *before.cpu_seconds);
  // We started a moment ago.
  double now = double(time(nullptr));
  EXPECT_LE(*after.start_time_seconds, now + 1);
  EXPECT_GT(*after.start_time_seconds, now - 600);
}

}  // namespace
}  // namespace goscry::prometheus
