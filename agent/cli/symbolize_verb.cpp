// `goscry symbolize`: every frame at each address, inlined frames included, innermost
// first — `addr2line -i` for Go, from .gopclntab (so stripped binaries work).
//   --exe FILE: the addresses are the file's (ELF vaddrs); Go code only.
//   --pid P:    the addresses are the process's, in any mapping: the Go binary, shared
//               libraries and cgo code (ELF symbols, demangled) and the kernel (kallsyms),
//               through ProcessSymbolizer, the code path every verb shares.
// ADDR `-` reads the addresses from stdin, one or more per line, like addr2line. Many
// addresses go through the batch API (one pass per function).
#include <charconv>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/base/exit_codes.h"
#include "agent/cli/cli.h"
#include "agent/cli/verb_output.h"
#include "agent/goruntime/go_target.h"

namespace goscry {
namespace {

struct SymbolizeOptions {
  TargetOptions target;
  std::string format = "text";
  std::vector<std::string> addresses;
};

// Hexadecimal with or without 0x, as `go tool addr2line` reads them.
// `s` as it can be shown on a terminal: at most 40 bytes, bytes outside printable ASCII as
// \xNN (binary on stdin was echoed raw).
std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 40; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 40) out += "...";
  return out;
}

Result<std::uint64_t> parse_address(std::string_view s) {
  std::string_view digits = s.starts_with("0x") || s.starts_with("0X") ? s.substr(2) : s;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, 16);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
    return fail(ErrorKind::BadInput, "not a hexadecimal address: \"" + printable(s) + "\"");
  return v;
}

// stdin is read whole before it is split: bounded, since it may be /dev/zero.
constexpr std::size_t kMaxStdinBytes = 64u << 20;

// The arguments, with `-` replaced by every whitespace-separated word of stdin.
Result<std::vector<std::uint64_t>> read_addresses(const std::vector<std::string>& args) {
  std::vector<std::uint64_t> out;
  auto add = [&](std::string_view word) -> Result<void> {
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
    // One read of all of stdin, then split: 100,000 addresses through iostreams cost more
    // than symbolizing them.
    std::string in;
    char buf[1 << 16];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) {
      if (in.size() + n > kMaxStdinBytes)
        return fail(ErrorKind::BadInput,
                    "stdin: more than " + std::to_string(kMaxStdinBytes >> 20) +
                        " MiB; give at most a few million addresses at a time");
      in.append(buf, n);
    }
    const char* ws = " \t\r\n";
    for (std::size_t at = in.find_first_not_of(ws); at != std::string::npos;) {
      std::size_t end = in.find_first_of(ws, at);
      std::string_view word(in);
      word = word.substr(at, end == std::string::npos ? std::string::npos : end - at);
      if (auto r = add(word); !r) return std::unexpected(r.error());
      at = end == std::string::npos ? end : in.find_first_not_of(ws, end);
    }
  }
  return out;
}

// Text output is appended to one buffer straight from the tables' string_views and
// written in large blocks: with 100,000 addresses, printf or JSON for each would cost
// more than the lookups.
class TextOut {
 public:
  ~TextOut() { flush(); }
  void add(std::uint64_t v, int base) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, base);
    (void)ec;
    buf_.append(buf, end);
  }
  void add(std::string_view s) {
    buf_.append(s);
    if (buf_.size() >= (1u << 20)) flush();
  }
  void flush() {
    std::fwrite(buf_.data(), 1, buf_.size(), stdout);
    buf_.clear();
  }

 private:
  std::string buf_;
};

void print_frame(TextOut& out, std::string_view function, std::string_view file, int line, bool inlined) {
  out.add("  ");
  out.add(function);
  out.add(" ");
  out.add(file);
  out.add(":");
  if (line < 0) out.add("-");
  out.add(line < 0 ? -std::int64_t(line) : line, 10);
  out.add(inlined ? " (inlined)\n" : "\n");
}

// --exe: the file's addresses, Go code only.
struct ExeReport {
  const std::vector<std::uint64_t>& addresses;
  const PclntabBatch& batch;
};

void exe_json(const ExeReport& r) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < r.addresses.size(); ++i) {
    nlohmann::ordered_json frames = nlohmann::ordered_json::array();
    for (const auto& f : r.batch.at(i))
      frames.push_back(
          {{"function", f.function}, {"file", f.file}, {"line", f.line}, {"inlined", f.inlined}});
    all.push_back({{"address", to_hex(r.addresses[i])}, {"frames", frames}});
  }
  std::printf("%s\n", all.dump(2).c_str());
}

void exe_text(const ExeReport& r) {
  TextOut out;
  for (std::size_t i = 0; i < r.addresses.size(); ++i) {
    out.add("0x");
    out.add(r.addresses[i], 16);
    out.add("\n");
    if (r.batch.count[i] == 0) out.add("  ?? (not Go code)\n");
    for (const auto& f : r.batch.at(i)) print_frame(out, f.function, f.file, f.line, f.inlined);
  }
}

const Formats<void (*)(const ExeReport&)> kExeFormats = {{"text", exe_text}, {"json", exe_json}};

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

// --pid: the process's addresses, in any mapping.
using PidReport = std::vector<SymbolizedAddress>;

void pid_json(const PidReport& results) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const auto& a : results) all.push_back(address_json(a));
  std::printf("%s\n", all.dump(2).c_str());
}

void pid_text(const PidReport& results) {
  TextOut out;
  for (const auto& a : results) {
    out.add(to_hex(a.address) + " " + address_kind_name(a.kind) + (a.module.empty() ? "" : " ") +
            a.module + "\n");
    switch (a.kind) {
      case AddressKind::Go:
        for (const auto& f : a.frames) print_frame(out, f.function, f.file, f.line, f.inlined);
        break;
      case AddressKind::Native:
      case AddressKind::Kernel:
        out.add("  " + a.frames.at(0).function + "+" + to_hex(a.offset) + "\n");
        break;
      case AddressKind::Unknown:
        out.add("  ?? (" + a.error + ")\n");
        break;
    }
  }
}

const Formats<void (*)(const PidReport&)> kPidFormats = {{"text", pid_text}, {"json", pid_json}};

int run_symbolize(const SymbolizeOptions& o) {
  auto addrs = read_addresses(o.addresses);
  if (!addrs) return fail_verb("symbolize", addrs.error(), kExitBadInput);
  auto t = open_go_target(o.target);
  if (!t) return fail_verb("symbolize", t.error());
  if (t->process) {
    kPidFormats[o.format](t->process->symbolize(*addrs));
  } else {
    PclntabBatch batch;
    t->binary->pclntab().frames_batch(*addrs, batch);
    kExeFormats[o.format]({*addrs, batch});
  }
  return kExitOk;
}
}  // namespace

void add_symbolize_verb(CLI::App& app, VerbRun& run) {
  auto opts = std::make_shared<SymbolizeOptions>();
  auto* cmd = app.add_subcommand("symbolize", "every frame (inlined too) at each address");
  add_target_options(*cmd, opts->target, true);
  add_format_option(*cmd, opts->format, kExeFormats);
  cmd->add_option("addresses", opts->addresses, "hexadecimal addresses; - reads them from stdin")
      ->required();
  cmd->callback([opts, &run] { run = [opts] { return run_symbolize(*opts); }; });
}

}  // namespace goscry
