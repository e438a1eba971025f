// Go's own tools as test oracles: `go tool addr2line`, `go tool nm`, `go version [-m]`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace goscry::testing {

struct Addr2lineAnswer {
  std::string function;   // "?" when addr2line does not know the pc
  std::string file_line;  // "file:line", "?:0" when unknown
};
// All pcs in one `go tool addr2line` run (it reads them from stdin).
std::vector<Addr2lineAnswer> go_addr2line(const std::string& binary,
                                          const std::vector<std::uint64_t>& pcs);

// `go tool nm` text symbols: name -> address.
std::map<std::string, std::uint64_t> go_nm_text(const std::string& binary);

// The version `go version FILE` reports ("go1.26.8").
std::string go_version_of(const std::string& binary);

}  // namespace goscry::testing
