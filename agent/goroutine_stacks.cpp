#include "agent/goroutine_stacks.h"

#include <cctype>

namespace goscry {

const std::vector<StackFrame>& StackSymbolizer::frames(std::uint64_t pc, bool innermost) {
  // Return addresses point after the call: Go looks up pc-1 to land in the call's line.
  // Key by (pc, innermost) folded into the low bit-free space: innermost pcs are rare.
  const std::uint64_t key = pc * 2 + (innermost ? 1 : 0);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  std::vector<StackFrame> out;
  auto f = target_.function_at(pc);
  const std::uint64_t entry = f ? f->entry : 0;
  const std::uint64_t lookup = (f && pc > entry) ? pc - 1 : pc;
  for (const auto& fr : target_.frames(lookup))
    out.push_back({fr.function, fr.file, fr.line, fr.inlined, pc, entry});
  if (out.empty()) out.push_back({"?", "?", 0, false, pc, entry});
  return cache_.emplace(key, std::move(out)).first->second;
}

std::optional<CreatedBy> StackSymbolizer::created_by(const Goroutine& g) {
  if (g.gopc == 0) return std::nullopt;
  auto f = target_.function_at(g.gopc);
  if (!f) return std::nullopt;
  CreatedBy c;
  c.function = f->name;
  c.pc = g.gopc;
  c.entry = f->entry;
  c.parent_goid = g.parent_goid;
  const auto& fr = frames(g.gopc, false);
  c.file = fr.front().file;
  c.line = fr.front().line;
  return c;
}

bool shown_in_traceback(const std::string& name) {
  if (name.find('.') == std::string::npos) return false;
  if (!name.starts_with("runtime.")) return true;
  // Exported runtime functions (runtime.Gosched, runtime.Goexit) are shown.
  return name.size() > 8 && std::isupper(static_cast<unsigned char>(name[8]));
}

std::vector<GoroutineView> symbolize_goroutines(const GoProcess& t, const GoroutineList& list) {
  StackSymbolizer sym(t);
  std::vector<GoroutineView> out;
  out.reserve(list.goroutines.size());
  for (const auto& g : list.goroutines) {
    GoroutineView v;
    v.g = g;
    v.state = state_name(t, g);
    if (g.status == kGwaiting && g.waitsince > 0 && list.read_at > g.waitsince)
      v.wait_ns = list.read_at - g.waitsince;
    v.system = is_system_goroutine(t, g);
    for (std::size_t i = 0; i < g.pcs.size(); ++i) {
      const auto& fr = sym.frames(g.pcs[i], i == 0);
      v.frames.insert(v.frames.end(), fr.begin(), fr.end());
    }
    v.created_by = sym.created_by(g);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace goscry
