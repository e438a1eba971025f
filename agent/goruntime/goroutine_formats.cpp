#include "agent/goruntime/goroutine_formats.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <memory>
#include <tuple>

#include "agent/goruntime/pprof_mapping.h"
#include "exporters/json_report.h"
#include "exporters/pprof.h"

namespace goscry {

namespace {

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

bool wanted(const GoroutineView& v, const FormatOptions& opt) { return opt.system || !v.system; }

// The pc a frame is symbolized at: a return address minus 1 (in the call), the pc itself
// for an exact frame or at a function's entry.
std::uint64_t symbolic_pc(const StackFrame& f) {
  return !f.exact && f.pc > f.entry ? f.pc - 1 : f.pc;
}

void append_hex(std::string& out, std::uint64_t v) {
  char buf[20] = "0x";
  auto r = std::to_chars(buf + 2, buf + sizeof buf, v, 16);
  out.append(buf, r.ptr);
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// " +0x1d" after a physical frame's file:line, as printed by Go when pc > entry.
void append_offset(std::string& out, std::uint64_t pc, std::uint64_t entry) {
  if (entry == 0 || pc <= entry) return;
  out += " +";
  append_hex(out, pc - entry);
}

void header(std::string& out, const GoroutineView& v) {
  out += "goroutine ";
  append_int(out, std::int64_t(v.g.goid));
  out += " [";
  out += v.state;
  if (v.g.scan) out += " (scan)";
  // Go prints whole minutes, and only from the first one.
  if (v.wait_ns >= 60'000'000'000) {
    out += ", ";
    append_int(out, v.wait_ns / 60'000'000'000);
    out += " minutes";
  }
  if (v.g.locked_to_thread) out += ", locked to thread";
  out += "]:\n";
}

void created_by(std::string& out, const GoroutineView& v) {
  if (!v.created_by || v.g.goid == 1 || !shown_in_traceback(v.created_by->function)) return;
  const auto& c = *v.created_by;
  out += "created by ";
  out += c.function;
  if (c.parent_goid != 0) {
    out += " in goroutine ";
    append_int(out, std::int64_t(c.parent_goid));
  }
  out += "\n\t";
  out += c.file;
  out += ':';
  append_int(out, c.line);
  append_offset(out, c.pc, c.entry);
  out += '\n';
}

void frame_line(std::string& out, const StackFrame& f, std::string_view args) {
  out += f.function;
  out += args;
  out += "\n\t";
  out += f.file;
  out += ':';
  append_int(out, f.line);
  if (!f.inlined) append_offset(out, f.pc, f.entry);
  out += '\n';
}

// The frames' lines of a goroutine, each physical frame with the arguments Go prints when
// they were read (ReadOptions::args), "(...)" otherwise, as for an inlined call.
class FrameLines {
 public:
  explicit FrameLines(const GoroutineView& v) : v_(v) {}

  void line(std::string& out, const StackFrame& f, bool shown) {
    if (f.inlined) {
      if (shown) frame_line(out, f, "(...)");
      return;
    }
    const std::size_t n = f.args ? f.args->offsets.size() : 0;
    const bool have = f.args && physical_ < v_.g.arg_frames && word_ + n <= v_.g.arg_words.size();
    if (shown) {
      args_.clear();
      if (have)
        append_args(args_, *f.args, std::span(v_.g.arg_words).subspan(word_, n));
      frame_line(out, f, have ? std::string_view(args_) : "(...)");
    }
    ++physical_;
    if (have) word_ += n;
  }

 private:
  const GoroutineView& v_;
  std::size_t physical_ = 0, word_ = 0;
  std::string args_;
};

// Why a goroutine's stack is not shown, in the words of Go's "goroutine running on other
// thread; stack unavailable"; empty when it is shown.
std::string_view why_stack_unavailable(const GoroutineView& v) {
  if (v.g.status == kGrunning && !v.g.from_registers) return "running on other thread";
  // The runtime is moving its stack: the frame records are rewritten one by one, some
  // pointing into the old stack, some into the new (runtime/stack.go: copystack).
  if (v.g.status == kGcopystack) return "moving its stack";
  // The state shown is the last one read.
  if (v.g.torn) return "kept running while goscry read it";
  return {};
}

void frames(std::string& out, const GoroutineView& v) {
  if (auto why = why_stack_unavailable(v); !why.empty()) {
    out += "\tgoroutine ";
    out += why;
    out += "; stack unavailable\n";
    return;
  }
  bool any = false;
  FrameLines lines(v);
  for (const auto& f : v.frames) {
    lines.line(out, f, shown_in_traceback(f));
    any = any || shown_in_traceback(f);
  }
  // traceback1: when hiding runtime frames and wrappers leaves nothing (a goroutine not
  // started yet sits at its `go` wrapper's entry), Go prints every frame down to goexit.
  if (!any && !v.frames.empty()) {
    FrameLines all(v);
    for (const auto& f : v.frames) all.line(out, f, true);
    if (v.goexit) frame_line(out, v.goexit->frame, v.goexit->args);
  }
  if (v.g.stack_truncated) out += "...additional frames elided...\n";
}

// The pcs a goroutine profile records for a stack: Go's "@" list, whose pc buffer leaves
// out the elided wrappers (tracebackPCs). A pc stays while any of its frames is kept. The
// buffer holds return addresses: an exact frame's symbolic pc + 1, as tracebackPCs stores.
std::vector<std::uint64_t> stack_key(const GoroutineView& v) {
  std::vector<std::uint64_t> out;
  bool kept = false;
  for (const auto& f : v.frames) {
    kept = kept || !f.elided;
    if (f.inlined) continue;
    if (kept) out.push_back(f.exact ? f.pc + 1 : f.pc);
    kept = false;
  }
  return out;
}

struct Record {
  std::int64_t count = 0;
  const GoroutineView* example = nullptr;
};

// Stacks aggregated like Go's goroutine profile, most frequent first.
std::vector<std::pair<std::vector<std::uint64_t>, Record>> aggregate(
    const std::vector<GoroutineView>& gs, const FormatOptions& opt) {
  std::map<std::vector<std::uint64_t>, Record> by_stack;
  for (const auto& v : gs) {
    if (!wanted(v, opt)) continue;
    auto& r = by_stack[stack_key(v)];
    ++r.count;
    if (!r.example) r.example = &v;
  }
  std::vector<std::pair<std::vector<std::uint64_t>, Record>> out(by_stack.begin(),
                                                                 by_stack.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second.count > b.second.count; });
  return out;
}

// Go's printStackRecord: leading runtime frames are skipped, runtime.goexit never shown.
void stack_record(std::string& out, const GoroutineView& v, bool all_frames) {
  bool show = all_frames;
  for (const auto& f : v.frames) {
    const std::uint64_t pc = symbolic_pc(f);
    if (f.elided) continue;
    if (f.function != "runtime.goexit" && (show || !f.function.starts_with("runtime."))) {
      show = true;
      out += "#\t" + hex(pc) + "\t" + f.function + "+" + hex(pc - f.entry) + "\t" + f.file + ":" +
             std::to_string(f.line) + "\n";
    }
  }
  if (!show && !v.frames.empty()) return stack_record(out, v, true);
  out += "\n";
}

}  // namespace

bool write_traceback_text(const std::vector<GoroutineView>& gs, const PieceSink& sink,
                          const FormatOptions& opt) {
  std::string out;
  // Without arguments the frames part depends only on the shared stack: rendered once per
  // distinct stack.
  std::map<std::tuple<const void*, bool, bool, bool>, std::string> stacks;
  bool first = true;
  for (const auto& v : gs) {
    if (!wanted(v, opt)) continue;
    if (!first) out += '\n';
    first = false;
    header(out, v);
    if (v.g.arg_frames != 0) {
      frames(out, v);  // its arguments are its own
    } else {
      auto [it, fresh] = stacks.try_emplace(
          {v.frames.id(), v.g.stack_truncated, v.g.status == kGrunning && !v.g.from_registers,
           v.g.torn});
      if (fresh) frames(it->second, v);
      out += it->second;
    }
    created_by(out, v);
    if (out.size() >= kOutputPiece) {
      if (!sink(out)) return false;
      out.clear();
    }
  }
  return out.empty() || sink(out);
}

std::string traceback_text(const std::vector<GoroutineView>& gs, const FormatOptions& opt) {
  std::string all;
  write_traceback_text(
      gs,
      [&all](std::string_view piece) {
        all += piece;
        return true;
      },
      opt);
  return all;
}

GoroutineAnswer streamed_traceback(std::vector<GoroutineView> gs) {
  auto views = std::make_shared<const std::vector<GoroutineView>>(std::move(gs));
  return {"", [views](const PieceSink& sink) { return write_traceback_text(*views, sink); }};
}

std::string goroutine_profile_debug1(const std::vector<GoroutineView>& gs,
                                     const FormatOptions& opt) {
  std::int64_t total = 0;
  for (const auto& v : gs) total += wanted(v, opt);
  std::string out = "goroutine profile: total " + std::to_string(total) + "\n";
  for (const auto& [pcs, r] : aggregate(gs, opt)) {
    out += std::to_string(r.count) + " @";
    for (auto pc : pcs) out += " " + hex(pc);
    out += "\n";
    stack_record(out, *r.example, false);
  }
  return out;
}

Result<std::string> goroutine_profile_proto(const GoProcess& t,
                                            const std::vector<GoroutineView>& gs,
                                            const FormatOptions& opt) {
  pprof::ProfileBuilder b(std::vector<pprof::ValueType>{{"goroutine", "count"}});
  b.set_period({"goroutine", "count"}, 1);
  b.set_time(std::int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()),
             0);
  const auto mapping = b.add_mapping(go_text_mapping(t));
  for (const auto& [pcs, r] : aggregate(gs, opt)) {
    std::vector<std::uint64_t> locs;
    // One location per physical frame: its lines are the inlined calls, innermost first.
    pprof::Location loc;
    for (std::size_t i = 0; i < r.example->frames.size(); ++i) {
      const auto& f = r.example->frames[i];
      loc.mapping_id = mapping;
      loc.address = symbolic_pc(f);
      if (!f.elided) loc.lines.push_back({{f.function, f.function, f.file, 0}, f.line, 0});
      if (!f.inlined) {
        if (!loc.lines.empty()) locs.push_back(b.add_location(loc));
        loc = {};
      }
    }
    if (!loc.lines.empty()) locs.push_back(b.add_location(loc));
    b.add_sample(locs, {r.count});
  }
  auto gz = b.serialize_gzip();
  if (!gz) return fail(ErrorKind::Io, "goroutine profile: " + gz.error());
  return *gz;
}

namespace {

nlohmann::ordered_json goroutine_json(const GoProcess& t, const GoroutineView& v) {
  nlohmann::ordered_json g;
  g["id"] = v.g.goid;
  g["state"] = v.state;
  g["status"] = v.g.status < t.layout().g_statuses.size() ? t.layout().g_statuses[v.g.status]
                                                         : std::to_string(v.g.status);
  g["wait_reason"] = v.g.status == kGwaiting ? v.state : "";
  if (v.wait_ns >= 0)
    g["wait_seconds"] = double(v.wait_ns) / 1e9;
  else
    g["wait_seconds"] = nullptr;
  g["system"] = v.system;
  g["locked_to_thread"] = v.g.locked_to_thread;
  auto fr = nlohmann::ordered_json::array();
  // The runtime's pc buffers leave elided wrappers out, unless nothing else is left.
  const bool all = std::all_of(v.frames.begin(), v.frames.end(),
                               [](const StackFrame& f) { return f.elided; });
  for (const auto& f : v.frames)
    if (all || !f.elided)
      fr.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line},
                    {"inlined", f.inlined}, {"pc", hex(f.pc)}});
  g["frames"] = fr;
  g["stack_truncated"] = v.g.stack_truncated;
  // false: the goroutine changed under every read of it; no stack is given.
  g["consistent"] = !v.g.torn;
  if (auto why = why_stack_unavailable(v); !why.empty())
    g["stack_unavailable"] = why;
  else
    g["stack_unavailable"] = nullptr;
  if (v.created_by)
    g["created_by"] = {{"function", v.created_by->function}, {"file", v.created_by->file},
                       {"line", v.created_by->line},
                       {"goroutine", v.created_by->parent_goid}};
  return g;
}

// `text` with every line after the first indented by `indent` more spaces.
void append_indented(std::string& out, const std::string& text, const std::string& indent) {
  std::size_t from = 0;
  for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', from)) {
    out.append(text, from, nl + 1 - from);
    out += indent;
    from = nl + 1;
  }
  out.append(text, from);
}

}  // namespace

bool write_dump_json(const GoProcess& t, const GoroutineList& list,
                     const std::vector<GoroutineView>& gs, const PieceSink& sink,
                     const FormatOptions& opt) {
  auto j = json_report::envelope("goroutines", 1);
  j["pid"] = t.pid();
  j["exe"] = t.process().exe_path();
  j["go_version"] = t.go_version();
  j["allglen"] = list.allglen;
  j["consistent"] = list.consistent;
  j["attempts"] = list.attempts;
  j["torn"] = list.torn;
  j["read_seconds"] = double(list.read_ns) / 1e9;
  j["goroutines"] = nlohmann::ordered_json::array();
  // The envelope as json_report::to_pretty prints it, its last member the empty array; the
  // goroutines go between the brackets one by one, printed as the whole tree would print them.
  std::string out = json_report::to_pretty(j);
  const std::string_view tail = "[]\n}";
  if (!out.ends_with(tail)) return false;
  out.resize(out.size() - tail.size());
  out += '[';
  bool first = true;
  for (const auto& v : gs) {
    if (!wanted(v, opt)) continue;
    out += first ? "\n    " : ",\n    ";
    first = false;
    append_indented(out, json_report::to_pretty(goroutine_json(t, v)), "    ");
    if (out.size() >= kOutputPiece) {
      if (!sink(out)) return false;
      out.clear();
    }
  }
  out += first ? "]\n}\n" : "\n  ]\n}\n";
  return sink(out);
}

Result<GoroutineAnswer> goroutine_profile(const GoProcess& t, int debug) {
  ReadOptions ro;
  ro.args = debug >= 2;  // the traceback prints each frame's arguments
  auto list = read_goroutines(t, ro);
  if (!list) return std::unexpected(list.error());
  auto views = symbolize_goroutines(t, std::move(list->goroutines), list->read_at, list->pc_facts);
  if (debug >= 2) return streamed_traceback(std::move(views));
  if (debug == 1) return GoroutineAnswer{goroutine_profile_debug1(views), {}};
  auto proto = goroutine_profile_proto(t, views);
  if (!proto) return std::unexpected(proto.error());
  return GoroutineAnswer{std::move(*proto), {}};
}

}  // namespace goscry
