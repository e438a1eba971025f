#include "agent/daemon/memory_budget.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "agent/base/log.h"
#include "symbolizer/elf_file.h"

namespace goscry {

void bound_allocator_caches() {
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
}

Result<ResidentMemory> own_resident_memory() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t size = 0, resident = 0, shared = 0;
  if (!(in >> size >> resident >> shared))
    return fail(ErrorKind::Io, "/proc/self/statm: unreadable");
  const std::uint64_t page = std::uint64_t(sysconf(_SC_PAGESIZE));
  const std::uint64_t file = std::min(shared, resident);
  return ResidentMemory{file * page, (resident - file) * page};
}

namespace {

MemoryBudget::Measured register_measured(prometheus::Registry& registry) {
  auto& resident = registry.gauge("goscry_agent_resident_bytes",
                                  "The agent's resident memory at the last scan, by kind: file "
                                  "(file-backed pages, mostly mapped binaries) or anon.",
                                  {"kind"});
  auto& degradations = registry.counter(
      "goscry_agent_memory_degradations_total",
      "What the agent gave up to stay within its memory budget, by action: "
      "release_binary_pages (mapped binaries' pages dropped, read again when next needed), "
      "trim_heap (free heap pages returned to the kernel), shed_target (still over the budget "
      "after those: one target's leak snapshots given up, the largest first).",
      {"action"});
  return MemoryBudget::Measured{
      &registry
           .gauge("goscry_agent_memory_over_budget",
                  "1 when the agent's resident memory was over its budget at the last scan, "
                  "after releasing what it could.")
           .with({}),
      &resident.with({"file"}), &resident.with({"anon"}),
      &degradations.with({"release_binary_pages"}), &degradations.with({"trim_heap"}),
      &degradations.with({"shed_target"})};
}

}  // namespace

MemoryBudget::MemoryBudget(prometheus::Registry& registry)
    : registry_(registry),
      budget_gauge_(registry
                        .gauge("goscry_agent_memory_budget_bytes",
                               "The agent's memory budget (memory_budget_mib).")
                        .with({})) {
  // Before any target is read: the agent's own binary and libraries.
  if (auto m = own_resident_memory()) own_file_bytes_ = m->file_bytes;
}

void MemoryBudget::configure(std::uint64_t budget_bytes, std::uint64_t symbol_share_bytes) {
  std::lock_guard lock(mu_);
  view_.budget_bytes = budget_bytes;
  view_.symbol_share_bytes = symbol_share_bytes;
  publish_locked();
}

void MemoryBudget::enforce() {
  auto now = own_resident_memory();
  if (!now) return;
  std::lock_guard lock(mu_);
  auto over = [&](const ResidentMemory& m) {
    return m.file_bytes + m.anon_bytes > view_.budget_bytes;
  };
  if (now->file_bytes > own_file_bytes_ + view_.symbol_share_bytes || over(*now)) {
    release_mapped_elf_pages();
    ++view_.releases;
    if (auto after = own_resident_memory()) now = after;
  }
  // Attaching to a target allocates and frees much more than it keeps (the kernel's BTF for
  // CO-RE, the binary's tables): free heap pages glibc keeps for reuse are given back.
  if (over(*now)) {
    malloc_trim(0);
    ++view_.heap_trims;
    if (auto after = own_resident_memory()) now = after;
  }
  const bool was_over = view_.over_budget;
  view_.resident = *now;
  view_.over_budget = over(*now);
  if (!measured_) measured_ = register_measured(registry_);
  if (view_.over_budget && !was_over)
    log::warn("agent over its memory budget",
              {{"resident_mib", std::to_string((now->file_bytes + now->anon_bytes) >> 20)},
               {"budget_mib", std::to_string(view_.budget_bytes >> 20)}});
  publish_locked();
}

void MemoryBudget::publish_locked() {
  budget_gauge_.set(double(view_.budget_bytes));
  if (!measured_) return;
  measured_->over->set(view_.over_budget ? 1 : 0);
  measured_->file->set(double(view_.resident.file_bytes));
  measured_->anon->set(double(view_.resident.anon_bytes));
  measured_->releases->set(double(view_.releases));
  measured_->heap_trims->set(double(view_.heap_trims));
  measured_->shed_targets->set(double(view_.shed_targets));
}

void MemoryBudget::count_shed_target() {
  std::lock_guard lock(mu_);
  ++view_.shed_targets;
  publish_locked();
}

std::optional<MemoryView> MemoryBudget::view() const {
  std::lock_guard lock(mu_);
  if (!measured_) return std::nullopt;
  return view_;
}

}  // namespace goscry
