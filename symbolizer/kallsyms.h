// Kernel text symbols from /proc/kallsyms, for the kernel half of a CPU stack.
// Without CAP_SYSLOG (or with kernel.kptr_restrict=2) the kernel prints every address as
// zero: the table is then "hidden" and every lookup says so instead of resolving all
// addresses to the first symbol.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/error.h"

namespace goscry {

struct KernelSymbol {
  std::string_view name;    // lives as long as the Kallsyms table
  std::string_view module;  // "" for the kernel proper, else "ext4", "nf_tables", ...
  std::uint64_t address = 0;
  std::uint64_t offset = 0;  // of the looked-up address from `address`
};

class Kallsyms {
 public:
  static Result<Kallsyms> load(const std::string& path = "/proc/kallsyms");
  // Parses kallsyms text (tests, fuzzing). Lines that are not "ADDR TYPE NAME [MODULE]" fail.
  static Result<Kallsyms> parse(std::string_view text);

  std::size_t size() const { return entries_.size(); }
  // Every address was zero: we may not see kernel addresses.
  bool addresses_hidden() const { return hidden_; }

  // The text symbol at or below addr. Fails when the addresses are hidden, or addr is
  // below the first symbol or past the end of the kernel's text (_etext) and of modules.
  Result<KernelSymbol> lookup(std::uint64_t addr) const;
  // The address of a text symbol by name (the first one when a static name repeats).
  Result<std::uint64_t> address_of(std::string_view name) const;

 private:
  struct Entry {
    std::uint64_t address;
    std::uint32_t name_off;
    std::uint32_t name_len;
    std::uint32_t module;  // index into modules_, 0 = kernel
  };
  KernelSymbol symbol(const Entry& e, std::uint64_t addr) const;

  std::string names_;  // every name back to back: one allocation instead of 100,000
  std::vector<std::string> modules_{""};
  std::vector<Entry> entries_;  // sorted by address
  bool in_kernel_text(std::uint64_t addr) const;

  // The kernel's code: [_text, _etext) and the boot-time [_sinittext, _einittext) (freed
  // after boot but still listed). 0 when unknown.
  std::uint64_t kernel_text_end_ = 0;
  std::uint64_t init_text_start_ = 0;
  std::uint64_t init_text_end_ = 0;
  bool hidden_ = false;
};

}  // namespace goscry
