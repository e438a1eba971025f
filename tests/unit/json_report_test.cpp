#include "exporters/json_report.h"

#include <gtest/gtest.h>

#include <sstream>

#include "tests/support/fixtures.h"

namespace goscry::json_report {
namespace {

using goscry::testing::run_command;
using goscry::testing::split_lines;
using json = nlohmann::ordered_json;

json sample_report() {
  json r = envelope("dump", 1);
  r["pid"] = 4242;
  r["goroutines"] = json::array(
      {{{"goid", 1}, {"function", "main.(*T).M"}, {"file", "/src/a \"b\".go"}},
       {{"goid", 7}, {"function", "main.F[...]\xff\xfe"}, {"label", "line1\nline2\t\\"}}});
  return r;
}

TEST(JsonReport, EnvelopeComesFirst) {
  EXPECT_EQ(to_line(sample_report()).substr(0, 29), R"({"report":"dump","version":1,)");
}

// jq is the independent reader: what it prints back is what we put in, with U+FFFD for
// the bytes a Go binary may hold that are not UTF-8 (nlohmann would throw on them).
TEST(JsonReport, JqReadsBackEveryStringAndBadBytesBecomeReplacementCharacters) {
  std::string line = to_line(sample_report());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto r = run_command({"jq", "-r", ".goroutines[] | .function, .file // \"-\", .label // \"-\""},
                       line);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "main.(*T).M\n/src/a \"b\".go\n-\nmain.F[...]\xEF\xBF\xBD\xEF\xBF\xBD\n-\n"
            "line1\nline2\t\\\n");
}

TEST(JsonReport, WriterEmitsJsonLinesOrPrettyObjects) {
  std::ostringstream lines, pretty;
  Writer lw(lines, Writer::Style::kLines), pw(pretty, Writer::Style::kPretty);
  for (int i = 0; i < 3; ++i) {
    json r = envelope("gc", 1);
    r["cycle"] = i;
    lw.write(r);
    pw.write(r);
  }
  auto out_lines = split_lines(lines.str());
  ASSERT_EQ(out_lines.size(), 3u);
  EXPECT_EQ(out_lines[2], R"({"report":"gc","version":1,"cycle":2})");
  EXPECT_GT(split_lines(pretty.str()).size(), 3u);
  // jq reads both as a stream of three objects.
  for (const std::string& text : {lines.str(), pretty.str()}) {
    auto r = run_command({"jq", "-c", "[.report, .version, .cycle]"}, text);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "[\"gc\",1,0]\n[\"gc\",1,1]\n[\"gc\",1,2]\n");
  }
}

}  // namespace
}  // namespace goscry::json_report
