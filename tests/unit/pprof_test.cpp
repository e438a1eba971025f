#include "exporters/pprof.h"
#include "symbolizer/output_file.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "exporters/profile.pb.h"
#include "tests/support/fixtures.h"

namespace goscry::pprof {
namespace {

namespace pb = perftools::profiles;
using goscry::testing::go_command;
using goscry::testing::run_command;
using goscry::testing::split_lines;

std::string gunzip(const std::string& gz) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

// What the tests put in, kept in the shape the oracle prints it back.
struct Frame {
  Function function;
  std::int64_t line;
};
struct PlannedLocation {
  std::uint64_t address;
  std::vector<Frame> frames;  // innermost first
};

const Mapping kMainBinary = {0x400000, 0x800000, 0, "/srv/app", "6a8f1cbd0e2d4f1e",
                             true,     true,     true, true};
const Mapping kLibc = {0x7f0000000000, 0x7f0000200000, 0x28000, "/usr/lib/libc.so.6",
                       "f00dfeed", true, true, false, false};

const Function kInner = {"main.(*T).M", "main.(*T).M", "/src/app/t.go", 10};
const Function kGeneric = {"main.F[...]", "main.F[go.shape.int]", "/src/app/f.go", 20};
const Function kOuter = {"main.main", "main.main", "/src/app/main.go", 30};
const Function kPark = {"runtime.gopark", "runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 381};
const Function kMemmove = {"memmove", "__memmove_avx_unaligned", "", 0};

// Location 1: M and F inlined into main.main; 2: a plain frame; 3: libc, function only.
const std::vector<PlannedLocation> kLocations = {
    {0x401234, {{kInner, 12}, {kGeneric, 25}, {kOuter, 41}}},
    {0x402000, {{kPark, 402}}},
    {0x7f0000001000, {{kMemmove, 0}}},
    {0x403000, {{kOuter, 44}}},
};

struct PlannedSample {
  std::vector<size_t> stack;  // indices into kLocations, leaf first
  std::vector<std::int64_t> values;
  std::vector<Label> labels;
};

const std::vector<PlannedSample> kSamples = {
    {{0, 1},
     {3, 30000000},
     {Label::string("state", "waiting"), Label::number("wait", 1500, "nanoseconds")}},
    {{2, 3},
     {1, 10000000},
     {Label::string("thread", "worker-7"), Label::number("bytes", 4096, "bytes")}},
    {{3}, {4, 40000000}, {Label::number("goid", 17)}},
};

ProfileBuilder build_planned_profile() {
  ProfileBuilder b({{"samples", "count"}, {"cpu", "nanoseconds"}});
  b.set_period({"cpu", "nanoseconds"}, 10000000);
  b.set_time(1700000000000000000, 30000000000);
  b.set_default_sample_type("cpu");
  b.add_comment("goscry test profile");
  std::uint64_t main_id = b.add_mapping(kMainBinary);
  std::uint64_t libc_id = b.add_mapping(kLibc);
  std::vector<std::uint64_t> ids;
  for (const auto& pl : kLocations) {
    Location loc;
    loc.mapping_id = pl.address >= kLibc.memory_start ? libc_id : main_id;
    loc.address = pl.address;
    for (const auto& f : pl.frames) loc.lines.push_back({f.function, f.line, 0});
    ids.push_back(b.add_location(loc));
  }
  for (const auto& s : kSamples) {
    std::vector<std::uint64_t> stack;
    for (size_t i : s.stack) stack.push_back(ids[i]);
    b.add_sample(stack, s.values, s.labels);
  }
  return b;
}

pb::Profile decode(const ProfileBuilder& b) {
  auto gz = b.serialize_gzip();
  EXPECT_TRUE(gz.has_value());
  EXPECT_EQ(gz->substr(0, 2), "\x1f\x8b");
  std::string raw = gunzip(*gz);
  EXPECT_EQ(raw, b.serialize());
  pb::Profile p;
  EXPECT_TRUE(p.ParseFromString(raw));
  return p;
}

TEST(Pprof, HoldsTheFormatInvariants) {
  pb::Profile p = decode(build_planned_profile());
  const auto& strings = p.string_table();
  ASSERT_GT(strings.size(), 0);
  EXPECT_EQ(strings[0], "");
  EXPECT_EQ(std::set<std::string>(strings.begin(), strings.end()).size(), size_t(strings.size()))
      << "strings are interned once";
  auto valid_string = [&](std::int64_t i) { return i >= 0 && i < strings.size(); };

  std::set<std::uint64_t> mappings, functions, locations;
  for (const auto& m : p.mapping()) {
    EXPECT_NE(m.id(), 0u);
    EXPECT_TRUE(mappings.insert(m.id()).second) << "mapping id twice: " << m.id();
    EXPECT_TRUE(valid_string(m.filename()) && valid_string(m.build_id()));
  }
  EXPECT_EQ(strings[p.mapping(0).filename()], "/srv/app") << "mapping[0] is the main binary";
  for (const auto& f : p.function()) {
    EXPECT_NE(f.id(), 0u);
    EXPECT_TRUE(functions.insert(f.id()).second) << "function id twice: " << f.id();
    EXPECT_TRUE(valid_string(f.name()) && valid_string(f.system_name()) &&
                valid_string(f.filename()));
  }
  for (const auto& l : p.location()) {
    EXPECT_NE(l.id(), 0u);
    EXPECT_TRUE(locations.insert(l.id()).second) << "location id twice: " << l.id();
    EXPECT_TRUE(l.mapping_id() == 0 || mappings.contains(l.mapping_id()));
    for (const auto& line : l.line()) EXPECT_TRUE(functions.contains(line.function_id()));
  }
  EXPECT_EQ(p.function_size(), 5);  // main.main appears in two locations, stored once
  EXPECT_EQ(p.location_size(), 4);
  ASSERT_EQ(p.sample_size(), 3);
  for (const auto& s : p.sample()) {
    EXPECT_EQ(s.value_size(), p.sample_type_size()) << "one value per sample type";
    for (std::uint64_t id : s.location_id()) EXPECT_TRUE(locations.contains(id));
    for (const auto& label : s.label()) {
      EXPECT_TRUE(valid_string(label.key()) && valid_string(label.str()) &&
                  valid_string(label.num_unit()));
      EXPECT_TRUE(label.str() == 0 || (label.num() == 0 && label.num_unit() == 0))
          << "a label is a string or a number";
    }
  }
  EXPECT_EQ(strings[p.default_sample_type()], "cpu");
  EXPECT_EQ(strings[p.period_type().type()], "cpu");
  EXPECT_EQ(p.period(), 10000000);
}

TEST(Pprof, DeduplicatesFunctionsLocationsAndMappingsByContent) {
  ProfileBuilder b(std::vector<ValueType>{{"samples", "count"}});
  std::uint64_t m1 = b.add_mapping(kMainBinary);
  EXPECT_EQ(b.add_mapping(kMainBinary), m1);
  EXPECT_NE(b.add_mapping(kLibc), m1);
  std::uint64_t f1 = b.add_function(kInner);
  EXPECT_EQ(b.add_function(kInner), f1);
  Function other_line = kInner;
  other_line.start_line = 11;
  EXPECT_NE(b.add_function(other_line), f1);
  Location loc{m1, 0x401000, {{kInner, 12, 0}}, false};
  std::uint64_t l1 = b.add_location(loc);
  EXPECT_EQ(b.add_location(loc), l1);
  loc.lines[0].line = 13;
  EXPECT_NE(b.add_location(loc), l1);
  EXPECT_EQ(b.location_count(), 2u);
  EXPECT_EQ(b.function_count(), 2u);
}

TEST(Pprof, RejectsMisuseAsProgrammingErrors) {
  ProfileBuilder b({{"samples", "count"}, {"cpu", "nanoseconds"}});
  std::uint64_t loc = b.add_location({0, 0x1000, {{kOuter, 1, 0}}, false});
  EXPECT_THROW(b.add_sample({loc}, {1}), std::invalid_argument);
  EXPECT_THROW(b.add_sample({loc + 1}, {1, 2}), std::invalid_argument);
  EXPECT_THROW(b.add_sample({0}, {1, 2}), std::invalid_argument);
  EXPECT_THROW(b.add_location({7, 0x1000, {}, false}), std::invalid_argument);
  EXPECT_THROW(b.set_default_sample_type("wall"), std::invalid_argument);
  EXPECT_NO_THROW(b.add_sample({loc}, {1, 2}));
  EXPECT_EQ(b.sample_count(), 1u);
}

// ---- go tool pprof as the oracle ----

struct RawSample {
  std::vector<std::int64_t> values;
  std::vector<std::uint64_t> location_ids;
  std::set<std::string> labels;  // "key:[value]" as pprof prints them
};
struct RawLine {
  std::string name, system_name, file;
  std::int64_t line = 0, start_line = 0;
};
struct RawLocation {
  std::uint64_t address = 0, mapping_id = 0;
  std::vector<RawLine> lines;
};
struct RawProfile {
  std::vector<std::string> header;
  std::vector<RawSample> samples;
  std::map<std::uint64_t, RawLocation> locations;
  std::vector<std::string> mappings;
};

// "main.(*T).M /src/app/t.go:12:0 s=10" or "memmove :0:0 s=0(__memmove_avx_unaligned)"
RawLine parse_raw_line(std::string text) {
  RawLine l;
  size_t s = text.rfind(" s=");
  std::string tail = text.substr(s + 3);
  size_t paren = tail.find('(');
  l.start_line = std::stoll(tail.substr(0, paren));
  if (paren != std::string::npos) l.system_name = tail.substr(paren + 1, tail.size() - paren - 2);
  text.resize(s);
  size_t space = text.find(' ');
  l.name = text.substr(0, space);
  if (l.system_name.empty()) l.system_name = l.name;
  std::string where = text.substr(space + 1);  // file:line:column (older pprof: file:line)
  std::vector<std::string> parts;
  std::stringstream ss(where);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  bool has_column = parts.size() >= 3;
  l.line = std::stoll(parts[parts.size() - (has_column ? 2 : 1)]);
  l.file = where.substr(0, where.size() - parts.back().size() - 1 -
                               (has_column ? parts[parts.size() - 2].size() + 1 : 0));
  return l;
}

RawProfile parse_raw(const std::string& out) {
  RawProfile p;
  enum { kHeader, kSamples, kLocations, kMappings } section = kHeader;
  std::uint64_t current_location = 0;
  bool sample_types_seen = false;
  for (const std::string& line : split_lines(out)) {
    if (line == "Samples:") { section = kSamples; continue; }
    if (line == "Locations") { section = kLocations; continue; }
    if (line == "Mappings") { section = kMappings; continue; }
    if (line.empty()) continue;
    switch (section) {
      case kHeader: p.header.push_back(line); break;
      case kSamples: {
        if (!sample_types_seen) { p.header.push_back(line); sample_types_seen = true; break; }
        if (line.starts_with("                ")) {
          // Labels: "key:[v] key2:[v2]"; numeric ones "key:[1500 nanoseconds]".
          std::string rest = line.substr(16);
          for (size_t at = 0; at < rest.size();) {
            size_t close = rest.find(']', at);
            p.samples.back().labels.insert(rest.substr(at, close + 1 - at));
            at = close + 2;
          }
          break;
        }
        RawSample s;
        size_t colon = line.find(':');
        std::stringstream values(line.substr(0, colon)), ids(line.substr(colon + 1));
        for (std::int64_t v; values >> v;) s.values.push_back(v);
        for (std::uint64_t id; ids >> id;) s.location_ids.push_back(id);
        p.samples.push_back(s);
        break;
      }
      case kLocations: {
        std::string rest;
        if (!line.starts_with("             ")) {
          // "     1: 0x401234 M=1 main.(*T).M /src/app/t.go:12:0 s=10"
          std::stringstream ss(line);
          std::string id, addr, mapping;
          ss >> id >> addr >> mapping;
          current_location = std::stoull(id);
          RawLocation& loc = p.locations[current_location];
          loc.address = std::stoull(addr, nullptr, 16);
          loc.mapping_id = std::stoull(mapping.substr(2));
          std::getline(ss >> std::ws, rest);
        } else {
          rest = line.substr(13);
        }
        p.locations[current_location].lines.push_back(parse_raw_line(rest));
        break;
      }
      case kMappings: p.mappings.push_back(line); break;
    }
  }
  return p;
}

std::string write_temp_profile(const ProfileBuilder& b, const std::string& name) {
  std::string path = std::filesystem::temp_directory_path() /
                     ("goscry-" + name + "-" + std::to_string(getpid()) + ".pb.gz");
  auto bytes = b.serialize_gzip();
  EXPECT_TRUE(bytes) << bytes.error();
  auto ok = write_output_file(path, bytes.value_or(""));
  EXPECT_TRUE(ok) << ok.error().message;
  return path;
}

TEST(Pprof, GoToolPprofPrintsBackExactlyWhatWasPutIn) {
  std::string path = write_temp_profile(build_planned_profile(), "raw");
  auto r = run_command({go_command(), "tool", "pprof", "-raw", "-symbolize=none", path});
  std::filesystem::remove(path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RawProfile p = parse_raw(r.out);

  EXPECT_NE(std::find(p.header.begin(), p.header.end(), "PeriodType: cpu nanoseconds"),
            p.header.end()) << r.out;
  EXPECT_NE(std::find(p.header.begin(), p.header.end(), "Period: 10000000"), p.header.end());
  EXPECT_NE(std::find(p.header.begin(), p.header.end(), "Duration: 30s"), p.header.end());
  EXPECT_NE(std::find(p.header.begin(), p.header.end(), "Comment: goscry test profile"),
            p.header.end());
  EXPECT_NE(std::find(p.header.begin(), p.header.end(), "samples/count cpu/nanoseconds[dflt]"),
            p.header.end());

  // Samples: values, stacks (leaf first, by content) and labels.
  ASSERT_EQ(p.samples.size(), kSamples.size()) << r.out;
  for (size_t i = 0; i < kSamples.size(); ++i) {
    SCOPED_TRACE("sample " + std::to_string(i));
    EXPECT_EQ(p.samples[i].values, kSamples[i].values);
    ASSERT_EQ(p.samples[i].location_ids.size(), kSamples[i].stack.size());
    for (size_t k = 0; k < kSamples[i].stack.size(); ++k) {
      const PlannedLocation& want = kLocations[kSamples[i].stack[k]];
      const RawLocation& got = p.locations.at(p.samples[i].location_ids[k]);
      EXPECT_EQ(got.address, want.address);
      ASSERT_EQ(got.lines.size(), want.frames.size());
      for (size_t f = 0; f < want.frames.size(); ++f) {
        EXPECT_EQ(got.lines[f].name, want.frames[f].function.name);
        EXPECT_EQ(got.lines[f].system_name, want.frames[f].function.system_name);
        EXPECT_EQ(got.lines[f].file, want.frames[f].function.filename);
        EXPECT_EQ(got.lines[f].start_line, want.frames[f].function.start_line);
        EXPECT_EQ(got.lines[f].line, want.frames[f].line);
      }
    }
    std::set<std::string> want_labels;
    for (const auto& l : kSamples[i].labels)
      want_labels.insert(l.is_numeric ? l.key + ":[" + std::to_string(l.num) +
                                            (l.num_unit.empty() ? "" : " " + l.num_unit) + "]"
                                      : l.key + ":[" + l.str + "]");
    EXPECT_EQ(p.samples[i].labels, want_labels);
  }
  EXPECT_EQ(p.locations.size(), kLocations.size());
  ASSERT_EQ(p.mappings.size(), 2u);
  EXPECT_EQ(p.mappings[0], "1: 0x400000/0x800000/0x0 /srv/app 6a8f1cbd0e2d4f1e [FN][FL][LN][IN]");
  EXPECT_EQ(p.mappings[1],
            "2: 0x7f0000000000/0x7f0000200000/0x28000 /usr/lib/libc.so.6 f00dfeed [FN][FL]");
}

// -top attributes flat time to Line[0] of the leaf location: the innermost inlined
// function. If the builder reversed inlined lines, main.main would get the flat value.
TEST(Pprof, GoToolPprofTopChargesTheInnermostInlinedFrame) {
  std::string path = write_temp_profile(build_planned_profile(), "top");
  auto r = run_command({go_command(), "tool", "pprof", "-top", "-symbolize=none",
                        "-sample_index=samples", "-nodecount=100", path});
  std::filesystem::remove(path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> flat_cum;  // name -> (flat, cum)
  bool table = false;
  for (const auto& line : split_lines(r.out)) {
    if (line.find("flat%") != std::string::npos) { table = true; continue; }
    if (!table) continue;
    std::stringstream ss(line);
    std::string flat, flat_pct, sum_pct, cum, cum_pct, name;
    ss >> flat >> flat_pct >> sum_pct >> cum >> cum_pct;
    std::getline(ss >> std::ws, name);
    flat_cum[name] = {std::stoll(flat), std::stoll(cum)};
  }
  // Sample 0 (3): leaf location 0 = M inlined in F inlined in main.main, then gopark.
  // Sample 1 (1): memmove <- main.main:44. Sample 2 (4): main.main:44.
  using P = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(flat_cum["main.(*T).M (inline)"], P(3, 3)) << r.out;
  EXPECT_EQ(flat_cum["main.F[...] (inline)"], P(0, 3)) << r.out;
  EXPECT_EQ(flat_cum["main.main"], P(4, 8)) << r.out;
  EXPECT_EQ(flat_cum["memmove"], P(1, 1)) << r.out;
  EXPECT_EQ(flat_cum["runtime.gopark"], P(0, 3)) << r.out;
}

}  // namespace
}  // namespace goscry::pprof
