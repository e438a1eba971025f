#include "agent/cpu/cpu_profile.h"

#include <cerrno>
#include <cstring>
#include <mutex>

namespace goscry {

namespace {

std::string lost_reason(std::int32_t id) {
  switch (-id) {
    case EFAULT: return "unreadable";
    case ENODATA: return "no frame";
    case ENOSPC: return "goscry's stack table full";
    default: {
      const char* name = strerrorname_np(-id);
      return "error " + (name ? std::string(name) : std::to_string(id));
    }
  }
}

}  // namespace

const SymbolizedAddress* lost_stack_frame(std::int32_t id, bool kernel) {
  if (id >= 0 || id == -ENOENT) return nullptr;
  static std::mutex mu;
  static std::map<std::pair<std::int32_t, bool>, SymbolizedAddress> frames;  // nodes stay put
  std::lock_guard lock(mu);
  auto [it, fresh] = frames.try_emplace({id, kernel});
  if (fresh) {
    Frame f;
    f.function =
        std::string(kernel ? "[kernel stack lost: " : "[stack lost: ") + lost_reason(id) + "]";
    f.file = "?";
    it->second.frames.push_back(f);
    it->second.error = f.function;
  }
  return &it->second;
}

ModuleIds read_module_ids(ProcessSymbolizer& symbolizer) {
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

pprof::ProfileBuilder cpu_pprof(const std::vector<CpuSample>& samples,
                                const ProcessSymbolizer* symbolizer, const ModuleIds& module_ids,
                                int hz, std::int64_t start_ns, std::int64_t duration_ns) {
  const std::int64_t period = 1'000'000'000LL / hz;
  pprof::ProfileBuilder b({{"samples", "count"}, {"cpu", "nanoseconds"}});
  b.set_period({"cpu", "nanoseconds"}, period);
  b.set_time(start_ns, duration_ns);
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
  for (const auto& s : samples) {
    std::vector<std::uint64_t> locs;
    WrapperElision elision;  // runtime/pprof's own stacks leave wrappers out
    for (const auto& pc : s.leaf_first) {
      pprof::Location loc;
      loc.address = pc.pc;
      if (symbolizer)
        if (const auto* m = symbolizer->maps().find(pc.pc))
          if (auto it = mapping_ids.find(m->start); it != mapping_ids.end())
            loc.mapping_id = it->second;
      if (pc.sym && !pc.sym->frames.empty()) {
        for (const auto& f : pc.sym->frames)
          if (!elision.elided(f.kind))
            loc.lines.push_back(
                {{f.function, f.function, f.file == "?" ? "" : f.file, 0}, f.line, 0});
        if (loc.lines.empty()) continue;  // a wrapper's frame alone
      } else {
        loc.lines.push_back({{to_hex(pc.pc), to_hex(pc.pc), "", 0}, 0, 0});
      }
      locs.push_back(b.add_location(loc));
    }
    b.add_sample(locs, {s.count, s.cpu_ns}, s.labels);
  }
  return b;
}

}  // namespace goscry
