#include "tests/support/objdump.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "tests/support/fixtures.h"

namespace goscry::testing {

std::map<std::uint64_t, std::string> objdump_instructions(const std::string& path) {
  auto r = run_command({"objdump", "-d", "-w", "--no-show-raw-insn", path});
  if (r.exit_code != 0) throw std::runtime_error("objdump " + path + ": " + r.err);
  std::map<std::uint64_t, std::string> out;
  for (const auto& line : split_lines(r.out)) {
    // "  401000:\tmov    %fs:0xfffffffffffffff8,%rcx"
    auto colon = line.find(":\t");
    if (colon == std::string::npos || line.empty() || line[0] != ' ') continue;
    char* end = nullptr;
    std::uint64_t addr = std::strtoull(line.c_str(), &end, 16);
    if (end != line.c_str() + colon) continue;
    std::string insn = line.substr(colon + 2);
    out[addr] = insn.substr(0, insn.find_first_of(" \t"));
  }
  return out;
}

std::vector<std::string> mnemonics_in(const std::map<std::uint64_t, std::string>& insns,
                                      std::uint64_t lo, std::uint64_t hi) {
  std::vector<std::string> out;
  for (auto it = insns.lower_bound(lo); it != insns.end() && it->first < hi; ++it)
    out.push_back(it->second);
  return out;
}

std::map<std::uint64_t, std::set<std::string>> nm_functions(const std::string& file,
                                                            bool dynamic) {
  std::vector<std::string> argv = {"nm", "--defined-only"};
  if (dynamic) argv.push_back("-D");
  argv.push_back(file);
  std::map<std::uint64_t, std::set<std::string>> out;
  for (const auto& line : split_lines(run_command(argv).out)) {
    std::uint64_t addr = 0;
    char type = 0;
    char name[1024];
    if (std::sscanf(line.c_str(), "%" SCNx64 " %c %1023s", &addr, &type, name) != 3) continue;
    if (type != 'T' && type != 't' && type != 'W' && type != 'i') continue;
    std::string n = name;
    if (auto at = n.find('@'); at != std::string::npos) n.resize(at);
    out[addr].insert(n);
  }
  return out;
}

}  // namespace goscry::testing
