#include "tests/support/go_oracles.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "tests/support/fixtures.h"

namespace goscry::testing {

std::vector<Addr2lineAnswer> go_addr2line(const std::string& binary,
                                          const std::vector<std::uint64_t>& pcs) {
  std::string input;
  char buf[32];
  for (auto pc : pcs) {
    std::snprintf(buf, sizeof buf, "0x%llx\n", static_cast<unsigned long long>(pc));
    input += buf;
  }
  auto r = run_command({go_command(), "tool", "addr2line", binary}, input);
  if (r.exit_code != 0) throw std::runtime_error("go tool addr2line failed: " + r.err);
  auto lines = split_lines(r.out);
  if (lines.size() != 2 * pcs.size())
    throw std::runtime_error("go tool addr2line: " + std::to_string(lines.size()) +
                             " lines for " + std::to_string(pcs.size()) + " pcs");
  std::vector<Addr2lineAnswer> out;
  for (std::size_t i = 0; i < pcs.size(); ++i) out.push_back({lines[2 * i], lines[2 * i + 1]});
  return out;
}

std::map<std::string, std::uint64_t> go_nm_text(const std::string& binary) {
  auto r = run_command({go_command(), "tool", "nm", binary});
  if (r.exit_code != 0) throw std::runtime_error("go tool nm failed: " + r.err);
  std::map<std::string, std::uint64_t> out;
  for (const auto& line : split_lines(r.out)) {
    std::istringstream in(line);
    std::string addr, kind, name;
    if (!(in >> addr >> kind >> name) || (kind != "T" && kind != "t")) continue;
    out.emplace(name, std::stoull(addr, nullptr, 16));
  }
  return out;
}

std::string go_version_of(const std::string& binary) {
  auto r = run_command({go_command(), "version", binary});
  if (r.exit_code != 0) throw std::runtime_error("go version failed: " + r.err);
  // "<path>: go1.26.8"
  auto colon = r.out.rfind(": ");
  std::string v = r.out.substr(colon + 2);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

}  // namespace goscry::testing
