#include "agent/cpu_profile.h"

#include <algorithm>

namespace goscry {
namespace {

// Frames above the leaf hold return addresses: the call is the byte before.
std::uint64_t lookup_address(std::uint64_t pc, bool leaf) { return leaf ? pc : pc - 1; }

}  // namespace

CpuProfile::CpuProfile(const CpuSampler& sampler, ProcessSymbolizer* symbolizer,
                       const GoProcess* go, std::uint32_t tgid, CpuProfileOptions options)
    : sampler_(sampler), symbolizer_(symbolizer), go_(go), tgid_(tgid), options_(options) {}

CpuProfile::Key CpuProfile::key_of(const goscry_cpu_key& k) {
  return {k.tgid, k.user_stack_id, k.kernel_stack_id, k.goid, k.labels, k.sp_ret};
}

// The pcsp table of the leaf's Go function says SP is still at its entry value: the
// return address is the word at SP (what the sampler stored as sp_ret), and the frame
// pointer still belongs to the caller, whose own return address is the walk's next frame.
bool CpuProfile::leaf_is_frameless(std::uint64_t pc) {
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

void CpuProfile::resolve_new(const std::vector<goscry_cpu_key>& keys) {
  std::vector<std::uint64_t> lookups;
  auto want = [&](std::uint64_t a) {
    if (!symbols_.count(a)) lookups.push_back(a);
  };
  for (const auto& k : keys) {
    if (k.tgid != tgid_) continue;
    for (std::int32_t id : {k.user_stack_id, k.kernel_stack_id}) {
      if (id < 0 || stacks_.count(id)) continue;
      auto pcs = sampler_.stack(id);
      for (std::size_t i = 0; i < pcs.size(); ++i) want(lookup_address(pcs[i], i == 0));
      stacks_[id] = std::move(pcs);
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
    if (k.tgid == tgid_ && k.sp_ret && it != stacks_.end() && !it->second.empty())
      leaf_is_frameless(it->second[0]);
  }
}

void CpuProfile::add(const std::vector<CpuCount>& counts) {
  std::vector<goscry_cpu_key> keys;
  for (const auto& c : counts) {
    if (c.key.tgid != tgid_) continue;
    auto& n = counts_[key_of(c.key)];
    n.first = c.key;
    n.second += c.count;
    keys.push_back(c.key);
  }
  resolve_new(keys);
}

std::uint64_t CpuProfile::total() const {
  std::uint64_t t = 0;
  for (const auto& [k, v] : counts_) t += v.second;
  return t;
}

std::vector<CpuProfile::Pc> CpuProfile::leaf_first(const goscry_cpu_key& k) const {
  std::vector<Pc> out;
  auto push = [&](std::uint64_t pc, bool leaf) {
    auto s = symbols_.find(lookup_address(pc, leaf));
    out.push_back({pc, s == symbols_.end() ? nullptr : &s->second});
  };
  for (std::int32_t id : {k.kernel_stack_id, k.user_stack_id}) {
    auto it = stacks_.find(id);
    if (it == stacks_.end()) continue;
    for (std::size_t i = 0; i < it->second.size(); ++i) {
      push(it->second[i], i == 0);
      if (i == 0 && id == k.user_stack_id && k.sp_ret) {
        auto f = frameless_.find(it->second[0]);
        if (f != frameless_.end() && f->second) push(k.sp_ret, false);
      }
    }
  }
  return out;
}

std::vector<pprof::Label> CpuProfile::labels(const goscry_cpu_key& k) const {
  std::vector<pprof::Label> out;
  if (auto it = label_sets_.find(k.labels); it != label_sets_.end())
    for (const auto& [key, value] : it->second) out.push_back(pprof::Label::string(key, value));
  if (options_.goid_labels && k.goid) out.push_back(pprof::Label::string("goid", std::to_string(k.goid)));
  return out;
}

ModuleIds module_ids_of(ProcessSymbolizer& symbolizer) {
  ModuleIds ids;
  for (const auto& m : symbolizer.maps().mappings()) {
    if (!m.executable() || !m.file_backed()) continue;
    auto mod = symbolizer.module(m.file_path());
    if (!mod) continue;
    ModuleId id;
    id.build_id = mod->elf->build_id().value_or(mod->elf->go_build_id().value_or(""));
    id.is_go = mod->payload->go != nullptr;
    ids[m.file_path()] = id;
  }
  return ids;
}

namespace {

// The frame names of one PC, innermost first, as the flame graphs show them.
std::vector<std::string> frame_names(const CpuProfile::Pc& pc) {
  if (!pc.sym || pc.sym->frames.empty()) return {to_hex(pc.pc)};
  std::vector<std::string> names;
  for (const auto& f : pc.sym->frames)
    names.push_back(pc.sym->kind == AddressKind::Kernel ? f.function + " [k]" : f.function);
  return names;
}

}  // namespace

std::vector<flame::StackCount> flame_stacks(const CpuProfile& profile) {
  std::vector<flame::StackCount> out;
  for (const auto& [k, v] : profile.counts()) {
    flame::StackCount sc;
    for (const auto& pc : profile.leaf_first(v.first))
      for (auto& n : frame_names(pc)) sc.frames.push_back(std::move(n));
    if (sc.frames.empty()) sc.frames.push_back("[no stack]");
    std::reverse(sc.frames.begin(), sc.frames.end());
    sc.count = v.second;
    out.push_back(std::move(sc));
  }
  return out;
}

pprof::ProfileBuilder build_pprof(const CpuProfile& profile, ProcessSymbolizer* symbolizer,
                                  const ModuleIds& module_ids, const PprofWindow& window) {
  const std::int64_t period = 1'000'000'000LL / window.hz;
  pprof::ProfileBuilder b({{"samples", "count"}, {"cpu", "nanoseconds"}});
  b.set_period({"cpu", "nanoseconds"}, period);
  b.set_time(window.start_ns, window.duration_ns);
  b.set_default_sample_type("cpu");
  // Executable file mappings, with the build-ids pprof uses to find the binaries.
  std::map<std::uint64_t, std::uint64_t> mapping_ids;  // mapping start -> id
  if (symbolizer) {
    for (const auto& m : symbolizer->maps().mappings()) {
      if (!m.executable() || !m.file_backed()) continue;
      pprof::Mapping pm;
      pm.memory_start = m.start;
      pm.memory_limit = m.end;
      pm.file_offset = m.offset;
      pm.filename = m.file_path();
      if (auto it = module_ids.find(m.file_path()); it != module_ids.end()) {
        pm.build_id = it->second.build_id;
        pm.has_functions = true;
        pm.has_filenames = pm.has_line_numbers = pm.has_inline_frames = it->second.is_go;
      }
      mapping_ids[m.start] = b.add_mapping(pm);
    }
  }
  for (const auto& [k, v] : profile.counts()) {
    std::vector<std::uint64_t> locs;
    for (const auto& pc : profile.leaf_first(v.first)) {
      pprof::Location loc;
      loc.address = pc.pc;
      if (symbolizer)
        if (const auto* m = symbolizer->maps().find(pc.pc))
          if (auto it = mapping_ids.find(m->start); it != mapping_ids.end())
            loc.mapping_id = it->second;
      if (pc.sym && !pc.sym->frames.empty()) {
        for (const auto& f : pc.sym->frames)
          loc.lines.push_back({{f.function, f.function, f.file == "?" ? "" : f.file, 0}, f.line, 0});
      } else {
        loc.lines.push_back({{to_hex(pc.pc), to_hex(pc.pc), "", 0}, 0, 0});
      }
      locs.push_back(b.add_location(loc));
    }
    const auto n = static_cast<std::int64_t>(v.second);
    b.add_sample(locs, {n, n * period}, profile.labels(v.first));
  }
  return b;
}

}  // namespace goscry
