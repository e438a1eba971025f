#include "agent/goruntime/goroutine_stacks.h"

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

const SharedFrames& StackSymbolizer::stack(const std::vector<std::uint64_t>& pcs) {
  auto it = stacks_.find(pcs);
  if (it != stacks_.end()) return it->second;
  std::vector<StackFrame> out;
  for (std::size_t i = 0; i < pcs.size(); ++i) {
    const auto& fr = frames(pcs[i], i == 0);
    out.insert(out.end(), fr.begin(), fr.end());
  }
  return stacks_.emplace(pcs, SharedFrames(std::move(out))).first->second;
}

std::size_t StackSymbolizer::PcsHash::operator()(const std::vector<std::uint64_t>& pcs) const {
  std::size_t h = pcs.size();
  for (auto pc : pcs) h = (h ^ pc) * 0x100000001b3ull;  // FNV-1a style, a word at a time
  return h;
}

std::optional<CreatedBy> StackSymbolizer::created_by(const Goroutine& g) {
  if (g.gopc == 0) return std::nullopt;
  auto [it, fresh] = creators_.try_emplace(g.gopc);
  if (fresh) {
    auto f = target_.function_at(g.gopc);
    if (f) {
      const auto& fr = frames(g.gopc, false);
      it->second = CreatedBy{f->name, fr.front().file, fr.front().line, g.gopc, f->entry, 0};
    }
  }
  std::optional<CreatedBy> c = it->second;
  if (c) c->parent_goid = g.parent_goid;
  return c;
}

bool StackSymbolizer::system(const Goroutine& g) {
  auto [it, fresh] = system_.try_emplace(g.startpc, false);
  if (fresh) it->second = is_system_goroutine(target_, g);
  return it->second;
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
    v.system = sym.system(g);
    v.frames = sym.stack(g.pcs);
    v.created_by = sym.created_by(g);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace goscry
