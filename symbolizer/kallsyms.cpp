#include "symbolizer/kallsyms.h"

#include <algorithm>
#include <charconv>

#include "symbolizer/proc_file.h"

namespace goscry {
namespace {

const std::string kHidden =
    "kernel symbol addresses are hidden (/proc/kallsyms shows zeros): run as root or grant "
    "CAP_SYSLOG, and check kernel.kptr_restrict";

// kallsyms separates the module column with a tab.
std::string_view field(std::string_view* line) { return next_field(line, " \t"); }

}  // namespace

Result<Kallsyms> Kallsyms::load(const std::string& path) {
  auto text = read_proc_file(path);
  if (!text) return std::unexpected(text.error());
  auto table = parse(*text);
  if (!table) return context(table.error(), path);
  return table;
}

Result<Kallsyms> Kallsyms::parse(std::string_view text) {
  Kallsyms k;
  bool any_nonzero = false;
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    std::string_view addr_s = field(&line), type = field(&line), name = field(&line),
                     module = field(&line);
    std::uint64_t addr = 0;
    auto r = std::from_chars(addr_s.data(), addr_s.data() + addr_s.size(), addr, 16);
    if (r.ec != std::errc() || r.ptr != addr_s.data() + addr_s.size() || type.size() != 1 ||
        name.empty())
      return fail(ErrorKind::Io,
                  "line " + std::to_string(line_no) + ": not \"ADDRESS TYPE NAME [MODULE]\"");
    any_nonzero |= addr != 0;
    if (name == "_etext") k.kernel_text_end_ = addr;
    if (name == "_sinittext") k.init_text_start_ = addr;
    if (name == "_einittext") k.init_text_end_ = addr;
    if (type != "t" && type != "T") continue;  // only code: data symbols never appear in stacks
    if (k.names_.size() + name.size() > UINT32_MAX)
      return fail(ErrorKind::Io, "symbol names too large");
    std::uint32_t mod = 0;
    if (module.size() > 2 && module.front() == '[' && module.back() == ']') {
      std::string m(module.substr(1, module.size() - 2));
      auto it = std::find(k.modules_.begin(), k.modules_.end(), m);
      mod = static_cast<std::uint32_t>(it - k.modules_.begin());
      if (it == k.modules_.end()) k.modules_.push_back(std::move(m));
    }
    k.entries_.push_back({addr, static_cast<std::uint32_t>(k.names_.size()),
                          static_cast<std::uint32_t>(name.size()), mod});
    k.names_.append(name);
  }
  k.hidden_ = !k.entries_.empty() && !any_nonzero;
  std::stable_sort(k.entries_.begin(), k.entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.address < b.address; });
  return k;
}

KernelSymbol Kallsyms::symbol(const Entry& e, std::uint64_t addr) const {
  return {std::string_view(names_).substr(e.name_off, e.name_len), modules_[e.module], e.address,
          addr - e.address};
}

// Larger than any kernel function (the largest are tens of KiB).
constexpr std::uint64_t kMaxFunctionBytes = 1u << 20;

Result<KernelSymbol> Kallsyms::lookup(std::uint64_t addr) const {
  if (hidden_) return fail(ErrorKind::Permission, kHidden);
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](std::uint64_t a, const Entry& e) { return a < e.address; });
  if (it == entries_.begin())
    return fail(ErrorKind::NotFound, "no kernel text symbol at " + to_hex(addr));
  --it;
  // Several names can share an address (aliases): report the first one listed.
  while (it != entries_.begin() && std::prev(it)->address == it->address) --it;
  // Past the kernel's text and before the first module there is no code.
  if (it->module == 0 && !in_kernel_text(addr)) {
    bool later_module = std::next(it) != entries_.end();
    if (!later_module || std::next(it)->module == 0)
      return fail(ErrorKind::NotFound,
                  "no kernel text symbol at " + to_hex(addr) + " (past the kernel's text)");
    return fail(ErrorKind::NotFound,
                "no kernel text symbol at " + to_hex(addr) + " (between kernel and modules)");
  }
  // The last symbol (a module's or a trampoline's) would otherwise cover everything up to
  // 0xffffffffffffffff: no kernel function is anywhere near this long.
  if (addr - it->address > kMaxFunctionBytes)
    return fail(ErrorKind::NotFound, "no kernel text symbol at " + to_hex(addr) + " (" +
                                         to_hex(addr - it->address) + " past the nearest one)");
  return symbol(*it, addr);
}

bool Kallsyms::in_kernel_text(std::uint64_t addr) const {
  if (kernel_text_end_ == 0 || addr < kernel_text_end_) return true;
  return addr >= init_text_start_ && addr < init_text_end_;
}

Result<std::uint64_t> Kallsyms::address_of(std::string_view name) const {
  if (hidden_) return fail(ErrorKind::Permission, kHidden);
  std::string_view names(names_);
  // Entries are sorted by address; the first match in address order is returned.
  for (const auto& e : entries_)
    if (names.substr(e.name_off, e.name_len) == name) return e.address;
  return fail(ErrorKind::NotFound, "no kernel text symbol named " + std::string(name));
}

}  // namespace goscry
