// `goscry symbolize --pid` and `goscry info --pid` on live processes, end to end through
// the goscry binary: one ProcessSymbolizer for Go code, cgo C code, libc and the kernel.
// Oracles: the addresses the cgo_native fixture prints from inside (its C function, libc's
// base from the dynamic loader), nm on libc, /proc/kallsyms, `go tool nm`.
#include "symbolizer/process_symbolizer.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/objdump.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::LiveProcess;
using testing::nm_functions;
using testing::run_command;

nlohmann::json goscry_json(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::goscry_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--format", "json"});
  auto r = run_command(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

// The libc mapped into pid, by its maps line.
std::string libc_path(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  for (std::string line; std::getline(in, line);)
    if (auto at = line.find('/');
        at != std::string::npos && line.find("/libc.so") != std::string::npos)
      return line.substr(at);
  return "";
}

// A kernel text symbol with an address of its own: address and name, from /proc/kallsyms.
std::pair<std::uint64_t, std::string> kernel_function(const std::string& want) {
  std::ifstream in("/proc/kallsyms");
  std::map<std::uint64_t, int> count;
  std::uint64_t found = 0;
  for (std::string line; std::getline(in, line);) {
    std::uint64_t addr;
    char type;
    char name[512];
    if (std::sscanf(line.c_str(), "%" SCNx64 " %c %511s", &addr, &type, name) != 3) continue;
    ++count[addr];
    if (want == name && (type == 'T' || type == 't')) found = addr;
  }
  if (found == 0 || count[found] != 1) return {0, ""};
  return {found, want};
}

TEST(ProcessSymbolizer, SymbolizePidResolvesGoCgoLibcAndKernelAddresses) {
  int ran = 0;
  for (const auto& f : all_fixtures("cgo_native")) {
    if (f.variant != "cgo") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(proc) << proc.error().message;
    const pid_t pid = (*proc)->pid();
    const std::string& out = (*proc)->output();
    const std::uint64_t go_pc = testing::printed_address(out, "func main.main");
    const std::uint64_t c_pc = testing::printed_address(out, "native goscry_native_add");
    const std::uint64_t libc_base = testing::printed_address(out, "libc-base");

    // Three libc functions with an address of their own, by nm -D, moved to libc's base.
    std::string libc = libc_path(pid);
    ASSERT_FALSE(libc.empty());
    std::vector<std::pair<std::uint64_t, std::set<std::string>>> libc_funcs;
    auto by_addr = nm_functions(libc, true);
    for (auto it = by_addr.begin(); it != by_addr.end() && libc_funcs.size() < 3; ++it) {
      auto next = std::next(it);
      if (it->first == 0 || next == by_addr.end() || next->first - it->first < 8) continue;
      if (it->first % 5 != 0) continue;  // spread the picks over the table
      libc_funcs.push_back({libc_base + it->first + 1, it->second});
    }
    ASSERT_EQ(libc_funcs.size(), 3u);

    std::vector<std::string> args = {"symbolize", "--pid", std::to_string(pid), to_hex(go_pc),
                                     to_hex(c_pc + 1)};
    for (const auto& [a, _] : libc_funcs) args.push_back(to_hex(a));
    auto [kaddr, kname] = kernel_function("vfs_read");
    if (kaddr) args.push_back(to_hex(kaddr + 1));
    auto j = goscry_json(args);
    ASSERT_EQ(j.size(), args.size() - 3);

    const std::string exe = std::filesystem::canonical(f.path).string();
    EXPECT_EQ(j[0]["kind"], "go") << j[0];
    EXPECT_EQ(j[0]["module"], exe);
    EXPECT_EQ(j[0]["frames"].back()["function"], "main.main") << j[0];

    EXPECT_EQ(j[1]["kind"], "native") << j[1];
    EXPECT_EQ(j[1]["module"], exe);
    ASSERT_EQ(j[1]["frames"].size(), 1u);
    EXPECT_EQ(j[1]["frames"][0]["function"], "goscry_native_add");
    EXPECT_EQ(j[1]["offset"], "0x1");

    for (std::size_t i = 0; i < libc_funcs.size(); ++i) {
      const auto& r = j[2 + i];
      EXPECT_EQ(r["kind"], "native") << r;
      EXPECT_EQ(r["module"], libc);
      EXPECT_EQ(r["offset"], "0x1") << r;
      ASSERT_EQ(r["frames"].size(), 1u) << r;
      EXPECT_TRUE(libc_funcs[i].second.count(r["frames"][0]["function"].get<std::string>()))
          << r << " is none of nm's names at that address";
    }
    if (kaddr) {
      const auto& k = j[2 + libc_funcs.size()];
      EXPECT_EQ(k["kind"], "kernel") << k;
      EXPECT_EQ(k["module"], "[kernel]");
      EXPECT_EQ(k["frames"][0]["function"], kname);
      EXPECT_EQ(k["offset"], "0x1");
    } else {
      ADD_FAILURE() << "/proc/kallsyms has no visible vfs_read (addresses hidden?)";
    }
    ++ran;
  }
  EXPECT_GT(ran, 0) << "no cgo variant of cgo_native was built";
}

TEST(ProcessSymbolizer, AnAddressInNoModuleSaysWhy) {
  auto fixtures = all_fixtures("cgo_native");
  ASSERT_FALSE(fixtures.empty());
  auto proc = LiveProcess::start({fixtures.front().path, "wait"});
  ASSERT_TRUE(proc) << proc.error().message;
  auto s = ProcessSymbolizer::create((*proc)->pid());
  ASSERT_TRUE(s) << s.error().message;
  auto r = (*s)->symbolize(0x10);
  EXPECT_EQ(r.kind, AddressKind::Unknown);
  EXPECT_EQ(r.error, "address 0x10 is not mapped in process " + std::to_string((*proc)->pid()));
}

TEST(ProcessSymbolizer, InfoPidPrintsRuntimeAddressesOfTheProbePoints) {
  int pies = 0;
  for (const auto& f : all_fixtures("cgo_native")) {
    if (f.variant != "pie" && f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(proc) << proc.error().message;
    const std::uint64_t go_pc = testing::printed_address((*proc)->output(), "func main.main");
    auto file = goscry_json({"info", "--exe", f.path});
    auto live = goscry_json({"info", "--pid", std::to_string((*proc)->pid())});
    EXPECT_EQ(file["addresses"], "file");
    EXPECT_EQ(live["addresses"], "runtime");
    // The bias is what the program saw of main.main minus what the file says of it.
    auto nm = run_command({testing::go_command(), "tool", "nm", f.path});
    std::uint64_t main_vaddr = 0;
    for (const auto& line : testing::split_lines(nm.out))
      if (line.ends_with(" T main.main")) main_vaddr = std::stoull(line, nullptr, 16);
    ASSERT_NE(main_vaddr, 0u);
    const std::uint64_t bias = go_pc - main_vaddr;
    EXPECT_EQ(live["load_bias"], to_hex(bias));
    if (f.variant == "pie") {
      EXPECT_NE(bias, 0u);
      ++pies;
    }
    ASSERT_EQ(live["probe_points"].size(), file["probe_points"].size());
    for (std::size_t i = 0; i < file["probe_points"].size(); ++i) {
      const auto& a = file["probe_points"][i];
      const auto& b = live["probe_points"][i];
      if (!a.contains("address")) continue;
      EXPECT_EQ(b["address"],
                to_hex(std::stoull(a["address"].get<std::string>(), nullptr, 16) + bias))
          << b;
      EXPECT_EQ(b["file_address"], a["address"]);
    }
  }
  EXPECT_GT(pies, 0);
}

}  // namespace
}  // namespace goscry
