#include "agent/goruntime/goroutine_stacks.h"

#include <cctype>

namespace goscry {

const std::vector<StackFrame>& StackSymbolizer::frames(std::uint64_t pc, bool exact) {
  const std::uint64_t key = pc * 2 + (exact ? 1 : 0);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  std::vector<StackFrame> out;
  auto f = target_.function_at(pc);
  const std::uint64_t entry = f ? f->entry : 0;
  const std::uint64_t lookup = (f && pc > entry && !exact) ? pc - 1 : pc;
  for (const auto& fr : target_.frames(lookup))
    out.push_back({fr.function, fr.file, fr.line, fr.inlined, pc, entry, fr.kind, exact});
  if (out.empty()) out.push_back({"?", "?", 0, false, pc, entry, FuncKind::kNormal, exact});
  out.back().args = facts_->args(pc, exact);
  return cache_.emplace(key, std::move(out)).first->second;
}

SharedFrames StackSymbolizer::stack(const std::vector<std::uint64_t>& pcs, bool exact_first) {
  // Stacks from a thread's registers are few (one per running goroutine) and not shared.
  if (!exact_first) {
    auto it = stacks_.find(pcs);
    if (it != stacks_.end()) return it->second;
  }
  std::vector<StackFrame> out;
  for (std::size_t i = 0; i < pcs.size(); ++i) {
    const bool exact = i == 0 ? exact_first : injected_call(pcs[i - 1]);
    const auto& fr = frames(pcs[i], exact);
    out.insert(out.end(), fr.begin(), fr.end());
  }
  WrapperElision elision;
  for (auto& f : out) f.elided = elision.elided(f.kind);
  if (exact_first) return SharedFrames(std::move(out));
  return stacks_.emplace(pcs, SharedFrames(std::move(out))).first->second;
}

std::size_t StackSymbolizer::remembered() const {
  return cache_.size() + stacks_.size() + creators_.size() + system_.size() + facts_->size();
}

bool StackSymbolizer::injected_call(std::uint64_t pc) {
  // runtime/traceback.go: the frame under sigpanic is looked up at its pc in every
  // release; under asyncPreempt and debugCallV2 from Go 1.21 (the unwinder's unwindTrap),
  // before which gentraceback backed up to pc - 1 there as under any call.
  const std::string& fn = frames(pc, false).back().function;
  if (fn == "runtime.sigpanic") return true;
  return target_.binary().go_minor() >= 21 &&
         (fn == "runtime.asyncPreempt" || fn == "runtime.debugCallV2");
}

std::size_t StackSymbolizer::PcsHash::operator()(const std::vector<std::uint64_t>& pcs) const {
  std::size_t h = pcs.size();
  for (auto pc : pcs) h = (h ^ pc) * 0x100000001b3ull;  // FNV-1a style, a word at a time
  return h;
}

std::optional<CreatedBy> StackSymbolizer::created_by(const Goroutine& g) {
  // printcreatedby: never for goroutine 1 (the runtime's assembly started it, through the
  // ABI wrapper of runtime.newproc), nor when the creator is a wrapper the runtime elides.
  if (g.gopc == 0 || g.goid == 1) return std::nullopt;
  auto [it, fresh] = creators_.try_emplace(g.gopc);
  if (fresh) {
    auto f = target_.function_at(g.gopc);
    const auto& fr = frames(g.gopc, false);
    if (f && !elided_wrapper(fr.back().kind, FuncKind::kNormal)) {
      it->second = CreatedBy{{f->name, fr.front().file, fr.front().line}, g.gopc, f->entry, 0};
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

const std::shared_ptr<const BottomFrame>& StackSymbolizer::goexit() {
  // newproc pushes goexit's entry + PCQuantum (1 on amd64) as the first frame's return
  // address.
  if (!goexit_ && target_.goexit_entry() != 0) {
    const StackFrame& f = frames(target_.goexit_entry() + 1, false).front();
    std::string args = "()";
    if (f.args && f.args->offsets.empty()) {
      args.clear();
      append_args(args, *f.args, {});
    }
    goexit_ = std::make_shared<const BottomFrame>(BottomFrame{f, std::move(args)});
  }
  return goexit_;
}

bool shown_in_traceback(const std::string& name) {
  if (name.find('.') == std::string::npos) return false;
  if (!name.starts_with("runtime.")) return true;
  // Exported runtime functions (runtime.Gosched, runtime.Goexit) are shown.
  return name.size() > 8 && std::isupper(static_cast<unsigned char>(name[8]));
}

std::vector<GoroutineView> symbolize_goroutines(const GoProcess& t, std::vector<Goroutine> gs,
                                                std::int64_t read_at,
                                                std::shared_ptr<PcFacts> facts) {
  StackSymbolizer sym(t, std::move(facts));
  return symbolize_goroutines(sym, std::move(gs), read_at);
}

std::vector<GoroutineView> symbolize_goroutines(StackSymbolizer& sym, std::vector<Goroutine> gs,
                                                std::int64_t read_at) {
  const GoProcess& t = sym.target();
  std::vector<GoroutineView> out;
  out.reserve(gs.size());
  for (auto& g_read : gs) {
    GoroutineView v;
    v.g = std::move(g_read);
    const Goroutine& g = v.g;
    v.state = state_name(t, g);
    // goroutineheader: waiting and syscall goroutines have a wait time.
    if ((g.status == kGwaiting || g.status == kGsyscall) && g.waitsince > 0 &&
        read_at > g.waitsince)
      v.wait_ns = read_at - g.waitsince;
    v.system = sym.system(g);
    v.frames = sym.stack(g.pcs, g.from_registers);
    if (!g.stack_truncated && !g.pcs.empty()) v.goexit = sym.goexit();
    v.created_by = sym.created_by(g);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace goscry
