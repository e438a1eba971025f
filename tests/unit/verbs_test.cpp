// `goscry info` and `goscry symbolize` as a user runs them: on the Go toolchain's own
// compilers (real binaries nobody here wrote), on a live PIE process, and on bad targets.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "symbolizer/go_binary.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::run_command;

std::vector<std::string> toolchain_compilers() {
  auto root = run_command({testing::go_command(), "env", "GOROOT"});
  std::string goroot = testing::split_lines(root.out).at(0);
  return {goroot + "/pkg/tool/linux_amd64/compile", "/usr/lib/go-1.19/pkg/tool/linux_amd64/compile"};
}

nlohmann::json run_json(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::goscry_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--format");
  argv.push_back("json");
  auto r = run_command(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(Verbs, InfoOnTheToolchainsCompilersMatchesGoVersionAndAddr2line) {
  for (const auto& compile : toolchain_compilers()) {
    SCOPED_TRACE(compile);
    auto j = run_json({"info", "--exe", compile});
    EXPECT_EQ(j["go_version"], testing::go_version_of(compile));
    EXPECT_EQ(j["package"], "cmd/compile");
    // Each probe point's address is the entry of that function by addr2line's account.
    std::vector<std::uint64_t> pcs;
    std::vector<std::string> names;
    for (const auto& p : j["probe_points"]) {
      if (!p.contains("address")) continue;
      pcs.push_back(std::stoull(p["address"].get<std::string>(), nullptr, 16));
      names.push_back(p["function"]);
    }
    ASSERT_GE(pcs.size(), 8u);
    auto want = testing::go_addr2line(compile, pcs);
    for (std::size_t i = 0; i < pcs.size(); ++i) EXPECT_EQ(want[i].function, names[i]);
  }
}

// The offsets tests/tools/dwarfoffsets (Go's own debug/dwarf, not libdw) reads from
// `binary` for each field of `info --format json`'s runtime_layout: "STRUCT PATH" -> offset.
std::map<std::string, long> go_dwarf_offsets(const std::string& helper, const std::string& binary,
                                             const nlohmann::json& fields) {
  std::string requests;
  for (const auto& f : fields)
    requests += f["struct"].get<std::string>() + " " + f["member"].get<std::string>() + "\n";
  auto r = run_command({helper, binary}, requests);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, long> out;
  for (const auto& line : testing::split_lines(r.out)) {
    std::istringstream in(line);
    std::string type, member, offset;
    in >> type >> member >> offset;
    if (offset.empty()) out[type + " "] = std::stol(member);  // a size: empty member path
    else out[type + " " + member] = std::stol(offset);
  }
  return out;
}

std::string build_dwarf_offsets_helper() {
  const std::string out = ::testing::TempDir() + "/goscry-dwarfoffsets";
  auto r = run_command({testing::go_command(), "build", "-o", out,
                        testing::source_dir() + "/tests/tools/dwarfoffsets/main.go"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

// `info` shows the runtime struct offsets goscry reads memory by: on binaries with DWARF,
// the offsets Go's debug/dwarf reads (-1 = absent is null); on stripped ones the same
// numbers, from the built-in table of that release, and marked so.
TEST(Verbs, InfoShowsTheRuntimeOffsetsDwarfGivesOrTheTable) {
  const std::string helper = build_dwarf_offsets_helper();
  std::map<std::string, nlohmann::json> dwarf_fields;
  int checked = 0;
  for (const auto& f : testing::all_fixtures("hello")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto j = run_json({"info", "--exe", f.path});
    const auto& layout = j["runtime_layout"];
    EXPECT_EQ(layout["source"], "DWARF");
    ASSERT_GE(layout["fields"].size(), 40u);
    auto want = go_dwarf_offsets(helper, f.path, layout["fields"]);
    for (const auto& field : layout["fields"]) {
      const std::string key = field["struct"].get<std::string>() + " " +
                              field["member"].get<std::string>();
      ASSERT_TRUE(want.count(key)) << key;
      const long got = field["offset"].is_null() ? -1 : field["offset"].get<long>();
      EXPECT_EQ(got, want.at(key)) << key;
      ++checked;
    }
    dwarf_fields[f.go_version] = layout["fields"];
  }
  EXPECT_GT(checked, 0);
  for (const auto& f : testing::all_fixtures("hello")) {
    if (f.variant != "stripped") continue;
    SCOPED_TRACE(f.label());
    auto j = run_json({"info", "--exe", f.path});
    auto minor = f.go_version.substr(0, f.go_version.find('.', 4));  // "go1.27"
    EXPECT_EQ(j["runtime_layout"]["source"], "table (" + minor + ")");
    EXPECT_EQ(j["runtime_layout"]["fields"], dwarf_fields.at(f.go_version));
  }
}

TEST(Verbs, SymbolizeOnTheToolchainsCompilersMatchesAddr2line) {
  for (const auto& compile : toolchain_compilers()) {
    SCOPED_TRACE(compile);
    auto bin = GoBinary::open(compile);
    ASSERT_TRUE(bin) << bin.error().message;
    const Pclntab& t = (*bin)->pclntab();
    std::vector<std::uint64_t> pcs;
    std::vector<std::string> args = {"symbolize", "--exe", compile};
    for (std::size_t k = 0; k < 500; ++k) {
      std::size_t i = k * t.num_functions() / 500;
      pcs.push_back(t.entry(i) + (t.end(i) - t.entry(i)) * (k % 7) / 8);
      args.push_back(to_hex(pcs.back()));
    }
    auto j = run_json(args);
    auto want = testing::go_addr2line(compile, pcs);
    ASSERT_EQ(j.size(), pcs.size());
    for (std::size_t i = 0; i < pcs.size(); ++i) {
      const auto& frames = j[i]["frames"];
      ASSERT_FALSE(frames.empty()) << to_hex(pcs[i]);
      EXPECT_EQ(frames.back()["function"], want[i].function) << to_hex(pcs[i]);
      std::string line = frames.front()["file"].get<std::string>() + ":" +
                         std::to_string(frames.front()["line"].get<int>());
      if (line == "?:-1" && want[i].file_line.rfind(":-", 0) == 0) continue;  // no position
      EXPECT_EQ(line, want[i].file_line) << to_hex(pcs[i]);
    }
  }
}

TEST(Verbs, SymbolizeWithPidTakesOffThePieLoadBias) {
  for (const auto& f : testing::all_fixtures("inline")) {
    if (f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    auto p = testing::LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(p) << p.error().message;
    // The first site's return address and the frames the runtime gave for it.
    std::istringstream in((*p)->output());
    std::string line, pc;
    std::vector<std::string> want;
    while (std::getline(in, line)) {
      if (line.rfind("site ", 0) == 0 && pc.empty()) pc = line.substr(line.rfind(' ') + 1);
      else if (line.rfind("frame ", 0) == 0 && want.size() < 8 && !pc.empty()) want.push_back(line.substr(6));
      else if (line == "end" && !pc.empty()) break;
    }
    ASSERT_FALSE(pc.empty());
    auto call = to_hex(std::stoull(pc, nullptr, 16) - 1);
    auto j = run_json({"symbolize", "--pid", std::to_string((*p)->pid()), call});
    std::vector<std::string> got;
    for (const auto& fr : j[0]["frames"])
      got.push_back(fr["function"].get<std::string>() + " " + fr["file"].get<std::string>() + ":" +
                    std::to_string(fr["line"].get<int>()));
    EXPECT_EQ(got, want);
  }
}

TEST(Verbs, AMissingPidIsOneClearSentence) {
  const std::string pid = std::to_string(testing::never_a_pid());
  for (const char* verb : {"info", "symbolize"}) {
    std::vector<std::string> argv = {testing::goscry_binary(), verb, "--pid", pid};
    if (std::string(verb) == "symbolize") argv.push_back("0x401000");
    auto r = run_command(argv);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err, std::string("goscry ") + verb + ": no process with pid " + pid + "\n");
  }
}

TEST(Verbs, ANonGoBinaryIsOneClearSentence) {
  auto r = run_command({testing::goscry_binary(), "symbolize", "--exe", "/bin/ls", "0x1000"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "goscry symbolize: /bin/ls: not a Go binary (no .gopclntab, no .go.buildinfo)\n");
  auto i = run_command({testing::goscry_binary(), "info", "--exe", "/bin/ls"});
  EXPECT_NE(i.exit_code, 0);
  EXPECT_EQ(i.err, "goscry info: /bin/ls: not a Go binary (no .gopclntab, no .go.buildinfo)\n");
}

}  // namespace
}  // namespace goscry
