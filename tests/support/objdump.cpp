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

std::vector<GoObjdumpLine> go_objdump(const std::string& path, const std::string& regex) {
  std::vector<std::string> argv = {go_command(), "tool", "objdump"};
  if (!regex.empty()) argv.insert(argv.end(), {"-s", regex});
  argv.push_back(path);
  auto r = run_command(argv);
  if (r.exit_code != 0) throw std::runtime_error("go tool objdump " + path + ": " + r.err);
  std::vector<GoObjdumpLine> out;
  std::string function;
  for (const auto& line : split_lines(r.out)) {
    // "TEXT runtime.newproc(SB) /path/proc.go", then
    // "  proc.go:5334\t\t0x5d000\t\t\tf9400b90\t\tMOVD 16(R28), R16\t\t\t"
    if (line.starts_with("TEXT ")) {
      function = line.substr(5, line.find("(SB)") - 5);
      continue;
    }
    std::vector<std::string> fields;
    std::size_t pos = 0;
    while (pos <= line.size()) {
      std::size_t tab = line.find('\t', pos);
      if (tab == std::string::npos) tab = line.size();
      if (tab > pos) fields.push_back(line.substr(pos, tab - pos));
      pos = tab + 1;
    }
    if (fields.size() < 4 || !fields[1].starts_with("0x")) continue;
    out.push_back({function, std::stoull(fields[1], nullptr, 16), fields[2], fields[3]});
  }
  return out;
}

}  // namespace goscry::testing
