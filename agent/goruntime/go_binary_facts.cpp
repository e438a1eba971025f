#include "agent/goruntime/go_binary_facts.h"

#include <mutex>
#include <unordered_map>

namespace goscry {

namespace {

GoBinaryFacts compute_facts(std::shared_ptr<const GoBinary> binary) {
  const ElfFile& elf = binary->elf();
  std::optional<CodeRange> fegr;
  if (auto f = binary->find_function("runtime.forEachGRace")) fegr = CodeRange{f->entry, f->end};
  return GoBinaryFacts{binary, runtime_layout(elf, binary->go_version()), find_allg(elf, fegr),
                       binary->find_function("runtime.goexit")};
}

// Keyed by the binary's address: the facts hold their binary, so while an entry is alive its
// key cannot be reused by another binary; an expired entry is replaced.
struct FactsRegistry {
  std::mutex mu;
  std::unordered_map<const GoBinary*, std::weak_ptr<const GoBinaryFacts>> facts;
};

FactsRegistry& registry() {
  static FactsRegistry r;
  return r;
}

}  // namespace

std::shared_ptr<const GoBinaryFacts> go_binary_facts(std::shared_ptr<const GoBinary> binary) {
  FactsRegistry& r = registry();
  {
    std::lock_guard lock(r.mu);
    if (auto it = r.facts.find(binary.get()); it != r.facts.end())
      if (auto f = it->second.lock()) return f;
  }
  // Outside the lock: the layout of a big binary comes from its DWARF and can take a while,
  // which must not stall the processes of other binaries.
  auto made = std::make_shared<const GoBinaryFacts>(compute_facts(binary));
  std::lock_guard lock(r.mu);
  auto& slot = r.facts[binary.get()];
  if (auto f = slot.lock()) return f;
  slot = made;
  // Bounded by the binaries alive: the expired entries go whenever one is added.
  std::erase_if(r.facts, [](const auto& kv) { return kv.second.expired(); });
  return made;
}

std::shared_ptr<ModuleCache> shared_module_cache() {
  static const std::shared_ptr<ModuleCache> cache = make_module_cache();
  return cache;
}

}  // namespace goscry
