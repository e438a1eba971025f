// `goscry symbolize`: every frame at each address, inlined frames included, innermost
// first — `addr2line -i` for Go, from .gopclntab (so stripped binaries work). With --pid
// the addresses are the process's; the PIE load bias is taken off.
#include <cstdio>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli.h"
#include "agent/go_target.h"

namespace goscry {
namespace {

struct SymbolizeOptions {
  TargetOptions target;
  std::string format = "text";
  std::vector<std::string> addresses;
};

// Hexadecimal with or without 0x, as `go tool addr2line` reads them.
Result<std::uint64_t> parse_address(const std::string& s) {
  std::string digits = s.rfind("0x", 0) == 0 || s.rfind("0X", 0) == 0 ? s.substr(2) : s;
  if (digits.empty() || digits.size() > 16 ||
      digits.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    return fail("not a hexadecimal address: " + s);
  return std::stoull(digits, nullptr, 16);
}

nlohmann::ordered_json frames_json(const GoTarget& t, std::uint64_t addr) {
  nlohmann::ordered_json frames = nlohmann::ordered_json::array();
  for (const auto& f : t.binary->frames(addr - t.bias))
    frames.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line},
                      {"inlined", f.inlined}});
  return {{"address", to_hex(addr)}, {"frames", frames}};
}

int run_symbolize(const SymbolizeOptions& o) {
  std::vector<std::uint64_t> addrs;
  for (const auto& a : o.addresses) {
    auto v = parse_address(a);
    if (!v) {
      std::fprintf(stderr, "goscry symbolize: %s\n", v.error().message.c_str());
      return 2;
    }
    addrs.push_back(*v);
  }
  auto t = open_go_target(o.target);
  if (!t) {
    std::fprintf(stderr, "goscry symbolize: %s\n", t.error().message.c_str());
    return 1;
  }
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (auto a : addrs) all.push_back(frames_json(*t, a));
  if (o.format == "json") {
    std::printf("%s\n", all.dump(2).c_str());
    return 0;
  }
  for (const auto& r : all) {
    std::printf("%s\n", r["address"].get<std::string>().c_str());
    if (r["frames"].empty()) std::printf("  ?? (not Go code)\n");
    for (const auto& f : r["frames"])
      std::printf("  %s %s:%d%s\n", f["function"].get<std::string>().c_str(),
                  f["file"].get<std::string>().c_str(), f["line"].get<int>(),
                  f["inlined"].get<bool>() ? " (inlined)" : "");
  }
  return 0;
}

}  // namespace

void add_symbolize_verb(CLI::App& app, VerbRun& run) {
  auto opts = std::make_shared<SymbolizeOptions>();
  auto* cmd = app.add_subcommand("symbolize", "every frame (inlined too) at each address");
  add_target_options(*cmd, opts->target, true);
  add_format_option(*cmd, opts->format);
  cmd->add_option("addresses", opts->addresses, "hexadecimal addresses")->required();
  cmd->callback([opts, &run] { run = [opts] { return run_symbolize(*opts); }; });
}

}  // namespace goscry
