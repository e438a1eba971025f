#include "agent/goruntime/go_binary_facts.h"

#include <mutex>
#include <unordered_map>

namespace goscry {

namespace {

Result<ContentionProfileAddresses> contention_addresses(
    const GoBinary& b, const Result<HeapProfileAddresses>& heap) {
  if (!heap) return std::unexpected(heap.error());
  return find_contention_profile(
      b.elf(), {function_code(b, "runtime.stkbucket"), function_code(b, "runtime.semacquire1"),
                heap->mbuckets});
}

GoBinaryFacts compute_facts(std::shared_ptr<const GoBinary> binary) {
  const GoBinary& b = *binary;
  const ElfFile& elf = b.elf();
  auto heap = find_heap_profile(
      elf, {function_code(b, "runtime.mProf_FlushLocked"), function_code(b, "runtime.mProf_Free"),
            function_code(b, "runtime.profilealloc")});
  auto contention = contention_addresses(b, heap);
  return GoBinaryFacts{binary,
                       runtime_layout(elf, b.go_version()),
                       find_allg(elf, function_code(b, "runtime.forEachGRace")),
                       b.find_function("runtime.goexit"),
                       std::move(heap),
                       std::move(contention)};
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

std::optional<CodeRange> function_code(const GoBinary& binary, std::string_view name) {
  auto f = binary.find_function(name);
  if (!f) return std::nullopt;
  return CodeRange{f->entry, f->end};
}

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
