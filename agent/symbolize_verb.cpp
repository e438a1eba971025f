// `goscry symbolize`: every frame at each address, inlined frames included, innermost
// first — `addr2line -i` for Go, from .gopclntab (so stripped binaries work).
//   --exe FILE: the addresses are the file's (ELF vaddrs); Go code only.
//   --pid P:    the addresses are the process's, in any mapping: the Go binary, shared
//               libraries and cgo code (ELF symbols, demangled) and the kernel (kallsyms),
//               through ProcessSymbolizer, the code path every verb shares.
// ADDR `-` reads the addresses from stdin, one or more per line, like addr2line. Many
// addresses go through the batch API (one pass per function).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
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

// The arguments, with `-` replaced by every whitespace-separated word of stdin.
Result<std::vector<std::uint64_t>> read_addresses(const std::vector<std::string>& args) {
  std::vector<std::uint64_t> out;
  auto add = [&](const std::string& word) -> Result<void> {
    auto v = parse_address(word);
    if (!v) return std::unexpected(v.error());
    out.push_back(*v);
    return {};
  };
  for (const auto& a : args) {
    if (a != "-") {
      if (auto r = add(a); !r) return std::unexpected(r.error());
      continue;
    }
    std::ios::sync_with_stdio(false);
    for (std::string word; std::cin >> word;)
      if (auto r = add(word); !r) return std::unexpected(r.error());
  }
  return out;
}

// Text output is written with fputs/printf straight from the tables' string_views: with
// 100,000 addresses, building strings or JSON for each would cost more than the lookups.
void print_frame(std::string_view function, std::string_view file, int line, bool inlined) {
  std::printf("  %.*s %.*s:%d%s\n", int(function.size()), function.data(), int(file.size()),
              file.data(), line, inlined ? " (inlined)" : "");
}

int run_exe(const GoBinary& bin, const std::vector<std::uint64_t>& addrs, const std::string& format) {
  PclntabBatch batch;
  bin.pclntab().frames_batch(addrs, batch);
  if (format == "json") {
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < addrs.size(); ++i) {
      nlohmann::ordered_json frames = nlohmann::ordered_json::array();
      for (const auto& f : batch.at(i))
        frames.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line},
                          {"inlined", f.inlined}});
      all.push_back({{"address", to_hex(addrs[i])}, {"frames", frames}});
    }
    std::printf("%s\n", all.dump(2).c_str());
    return 0;
  }
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    std::printf("%s\n", to_hex(addrs[i]).c_str());
    if (batch.count[i] == 0) std::fputs("  ?? (not Go code)\n", stdout);
    for (const auto& f : batch.at(i)) print_frame(f.function, f.file, f.line, f.inlined);
  }
  return 0;
}

nlohmann::ordered_json address_json(const SymbolizedAddress& a) {
  nlohmann::ordered_json j = {{"address", to_hex(a.address)}, {"kind", address_kind_name(a.kind)}};
  if (!a.module.empty()) j["module"] = a.module;
  if (a.kind == AddressKind::Go || a.kind == AddressKind::Native) j["module_address"] = to_hex(a.module_vaddr);
  if (a.kind == AddressKind::Native || a.kind == AddressKind::Kernel) j["offset"] = to_hex(a.offset);
  nlohmann::ordered_json frames = nlohmann::ordered_json::array();
  for (const auto& f : a.frames)
    frames.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line}, {"inlined", f.inlined}});
  j["frames"] = frames;
  if (a.kind == AddressKind::Unknown) j["error"] = a.error;
  return j;
}

int run_pid(ProcessSymbolizer& p, const std::vector<std::uint64_t>& addrs, const std::string& format) {
  auto results = p.symbolize(addrs);
  if (format == "json") {
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (const auto& a : results) all.push_back(address_json(a));
    std::printf("%s\n", all.dump(2).c_str());
    return 0;
  }
  for (const auto& a : results) {
    std::printf("%s %s%s%s\n", to_hex(a.address).c_str(), address_kind_name(a.kind),
                a.module.empty() ? "" : " ", a.module.c_str());
    switch (a.kind) {
      case AddressKind::Go:
        for (const auto& f : a.frames) print_frame(f.function, f.file, f.line, f.inlined);
        break;
      case AddressKind::Native:
      case AddressKind::Kernel:
        std::printf("  %s+%s\n", a.frames.at(0).function.c_str(), to_hex(a.offset).c_str());
        break;
      case AddressKind::Unknown:
        std::printf("  ?? (%s)\n", a.error.c_str());
        break;
    }
  }
  return 0;
}

int run_symbolize(const SymbolizeOptions& o) {
  auto addrs = read_addresses(o.addresses);
  if (!addrs) {
    std::fprintf(stderr, "goscry symbolize: %s\n", addrs.error().message.c_str());
    return 2;
  }
  auto t = open_go_target(o.target);
  if (!t) {
    std::fprintf(stderr, "goscry symbolize: %s\n", t.error().message.c_str());
    return 1;
  }
  if (t->process) return run_pid(*t->process, *addrs, o.format);
  return run_exe(*t->binary, *addrs, o.format);
}

}  // namespace

void add_symbolize_verb(CLI::App& app, VerbRun& run) {
  auto opts = std::make_shared<SymbolizeOptions>();
  auto* cmd = app.add_subcommand("symbolize", "every frame (inlined too) at each address");
  add_target_options(*cmd, opts->target, true);
  add_format_option(*cmd, opts->format);
  cmd->add_option("addresses", opts->addresses, "hexadecimal addresses; - reads them from stdin")
      ->required();
  cmd->callback([opts, &run] { run = [opts] { return run_symbolize(*opts); }; });
}

}  // namespace goscry
