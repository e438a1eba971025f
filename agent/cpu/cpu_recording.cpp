#include "agent/cpu/cpu_recording.h"

#include <algorithm>
#include <cerrno>

namespace goscry {
namespace {

std::uint64_t lookup_address(std::uint64_t pc, bool leaf) { return call_address(pc, leaf); }

}  // namespace

CpuDrain read_drain(const CpuSampler& sampler, std::vector<CpuCount> counts, int hz) {
  CpuDrain d{std::move(counts), {}, hz};
  for (const auto& c : d.counts)
    for (std::int32_t id : {c.key.user_stack_id, c.key.kernel_stack_id})
      if (id >= 0 && !d.stacks.contains(id)) d.stacks[id] = sampler.stack(id);
  return d;
}

CpuRecording::CpuRecording(ProcessSymbolizer* symbolizer, const GoProcess* go, std::uint32_t tgid,
                           CpuRecordingOptions options)
    : symbolizer_(symbolizer), go_(go), tgid_(tgid), options_(options) {}

std::int32_t CpuRecording::intern(const CpuDrain& drain, std::int32_t sampler_id) {
  if (sampler_id < 0) return sampler_id;  // a lost stack's reason (lost_stack_frame)
  auto pcs = drain.stacks.find(sampler_id);
  if (pcs == drain.stacks.end()) return -ENOENT;  // not stored: no frame, as the sampler's
  auto [it, fresh] =
      stack_ids_.try_emplace(pcs->second, static_cast<std::int32_t>(stack_ids_.size()));
  if (fresh) stacks_[it->second] = pcs->second;
  return it->second;
}

CpuRecording::Key CpuRecording::key_of(const goscry_cpu_key& k) {
  return {k.tgid, k.user_stack_id, k.kernel_stack_id, k.goid, k.labels, k.sp_ret};
}

// The pcsp table of the leaf's Go function says SP is still at its entry value: the
// return address is the word at SP (what the sampler stored as sp_ret), and the frame
// pointer still belongs to the caller, whose own return address is the walk's next frame.
bool CpuRecording::leaf_is_frameless(std::uint64_t pc) {
  if (auto it = frameless_.find(pc); it != frameless_.end()) return it->second;
  bool frameless = false;
  auto s = symbols_.find(pc);
  if (symbolizer_ && s != symbols_.end() && s->second.kind == AddressKind::Go)
    if (auto mod = symbolizer_->module(s->second.module); mod && mod->payload->go) {
      auto d = mod->payload->go->pclntab().sp_delta(s->second.module_vaddr);
      frameless = d && *d == 0;
    }
  frameless_[pc] = frameless;
  return frameless;
}

void CpuRecording::resolve_new(const std::vector<goscry_cpu_key>& keys) {
  std::vector<std::uint64_t> lookups;
  auto want = [&](std::uint64_t a) {
    if (!symbols_.count(a)) lookups.push_back(a);
  };
  for (const auto& k : keys) {
    for (std::int32_t id : {k.user_stack_id, k.kernel_stack_id}) {
      if (id < 0 || !resolved_.insert(id).second) continue;
      const auto& pcs = stacks_.at(id);
      for (std::size_t i = 0; i < pcs.size(); ++i) want(lookup_address(pcs[i], i == 0));
    }
    if (k.sp_ret) want(lookup_address(k.sp_ret, false));
    if (k.labels && go_ && !label_sets_.count(k.labels)) {
      auto l = read_pprof_labels(go_->process(), go_->binary().go_minor(), k.labels);
      if (!l) ++unreadable_labels_;
      label_sets_[k.labels] = l ? std::move(*l) : PprofLabels{};
    }
  }
  if (!symbolizer_) return;
  std::sort(lookups.begin(), lookups.end());
  lookups.erase(std::unique(lookups.begin(), lookups.end()), lookups.end());
  auto resolved = symbolizer_->symbolize(lookups);
  for (std::size_t i = 0; i < lookups.size(); ++i) symbols_[lookups[i]] = resolved[i];
  for (const auto& k : keys) {  // decide while the module is surely open
    auto it = stacks_.find(k.user_stack_id);
    if (k.sp_ret && it != stacks_.end() && !it->second.empty()) leaf_is_frameless(it->second[0]);
  }
}

void CpuRecording::add(const CpuDrain& drain) {
  const std::int64_t period_ns = drain.hz > 0 ? 1'000'000'000LL / drain.hz : 0;
  std::vector<goscry_cpu_key> keys;
  for (const auto& c : drain.counts) {
    if (c.key.tgid != tgid_) continue;
    goscry_cpu_key k = c.key;
    k.user_stack_id = intern(drain, k.user_stack_id);
    k.kernel_stack_id = intern(drain, k.kernel_stack_id);
    auto& n = counts_[key_of(k)];
    n.first = k;
    n.second += c.count;
    cpu_ns_[key_of(k)] += static_cast<std::int64_t>(c.count) * period_ns;
    keys.push_back(k);
  }
  resolve_new(keys);
}

std::int64_t CpuRecording::cpu_ns(const goscry_cpu_key& k) const {
  auto it = cpu_ns_.find(key_of(k));
  return it == cpu_ns_.end() ? 0 : it->second;
}

std::uint64_t CpuRecording::total() const {
  std::uint64_t t = 0;
  for (const auto& [k, v] : counts_) t += v.second;
  return t;
}

std::vector<CpuRecording::Pc> CpuRecording::leaf_first(const goscry_cpu_key& k,
                                                      bool kernel) const {
  std::vector<Pc> out;
  auto push = [&](std::uint64_t pc, bool leaf) {
    auto s = symbols_.find(lookup_address(pc, leaf));
    out.push_back({pc, s == symbols_.end() ? nullptr : &s->second});
  };
  for (const auto& [id, is_kernel] :
       {std::pair{k.kernel_stack_id, true}, std::pair{k.user_stack_id, false}}) {
    if (is_kernel && !kernel) continue;
    if (const auto* lost = lost_stack_frame(id, is_kernel)) out.push_back({0, lost});
    auto it = stacks_.find(id);
    if (it == stacks_.end()) continue;
    const std::size_t first = !is_kernel && !kernel ? past_the_vdso(it->second) : 0;
    for (std::size_t i = first; i < it->second.size(); ++i) {
      push(it->second[i], i == 0);
      if (i == 0 && !is_kernel && k.sp_ret) {
        auto f = frameless_.find(it->second[0]);
        if (f != frameless_.end() && f->second) push(k.sp_ret, false);
      }
    }
  }
  return out;
}

namespace {

// The runtime's assembly functions that call into the vDSO, each setting m.vdsoPC/vdsoSP
// first (sys_linux_amd64.s, time_linux_amd64.s, sys_linux_arm64.s, 1.19-1.27).
bool calls_the_vdso(const std::string& function) {
  return function == "runtime.nanotime1" || function == "time.now" ||
         function == "runtime.walltime" || function == "runtime.vgetrandom1";
}

}  // namespace

std::size_t CpuRecording::past_the_vdso(const std::vector<std::uint64_t>& pcs) const {
  auto innermost = [&](std::size_t i) -> const Frame* {
    auto s = symbols_.find(lookup_address(pcs[i], i == 0));
    if (s == symbols_.end() || s->second.frames.empty()) return nullptr;
    return &s->second.frames.front();
  };
  std::size_t i = 0;
  for (const Frame* f; i < pcs.size() && (f = innermost(i)) && f->function == kVdsoModule;) ++i;
  if (i == 0) return 0;
  if (const Frame* f = i < pcs.size() ? innermost(i) : nullptr; f && calls_the_vdso(f->function))
    ++i;
  return i;
}

std::vector<pprof::Label> CpuRecording::labels(const goscry_cpu_key& k) const {
  std::vector<pprof::Label> out;
  if (auto it = label_sets_.find(k.labels); it != label_sets_.end())
    for (const auto& [key, value] : it->second) out.push_back(pprof::Label::string(key, value));
  if (options_.goid_labels && k.goid) out.push_back(pprof::Label::string("goid", std::to_string(k.goid)));
  return out;
}

namespace {

// The frame names of one PC, innermost first, as the flame graphs show them: wrappers the
// runtime elides left out, as in runtime/pprof's profiles.
std::vector<std::string> frame_names(const CpuRecording::Pc& pc, WrapperElision& elision) {
  if (!pc.sym || pc.sym->frames.empty()) return {to_hex(pc.pc)};
  std::vector<std::string> names;
  for (const auto& f : pc.sym->frames)
    if (!elision.elided(f.kind))
      names.push_back(pc.sym->kind == AddressKind::Kernel ? f.function + " [k]" : f.function);
  return names;
}

}  // namespace

std::vector<flame::StackCount> flame_stacks(const CpuRecording& profile) {
  std::vector<flame::StackCount> out;
  for (const auto& [k, v] : profile.counts()) {
    flame::StackCount sc;
    WrapperElision elision;
    for (const auto& pc : profile.leaf_first(v.first))
      for (auto& n : frame_names(pc, elision)) sc.frames.push_back(std::move(n));
    if (sc.frames.empty()) sc.frames.push_back("[no stack]");
    std::reverse(sc.frames.begin(), sc.frames.end());
    sc.count = v.second;
    out.push_back(std::move(sc));
  }
  return out;
}

std::vector<CpuSample> cpu_samples(const CpuRecording& recording, bool kernel) {
  std::vector<CpuSample> out;
  for (const auto& [k, v] : recording.counts()) {
    CpuSample s;
    s.leaf_first = recording.leaf_first(v.first, kernel);
    s.count = static_cast<std::int64_t>(v.second);
    s.cpu_ns = recording.cpu_ns(v.first);
    s.labels = recording.labels(v.first);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace goscry
