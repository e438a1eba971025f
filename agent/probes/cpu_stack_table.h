// The stacks of CPU samples by id. Every sample comes through the CPU sampler's ring with
// its stacks by value (bpf/cpu.bpf.c); counting samples per {stacks, goroutine, labels} and
// symbolizing each distinct stack once need a small key, hence ids. Each distinct stack is
// stored once, under an id that stays its own until it is forgotten (ids are not reused
// while stored, so a key drained earlier never points at another stack).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace goscry {

class CpuStackTable {
 public:
  // Distinct stacks held at most: 2 x a 30 s recording at 99 Hz on 44 CPUs, each sample
  // with a stack of its own; ~70 MiB of 30-frame stacks. Past it a new stack is refused
  // and its sample is kept without it (GOSCRY_CPU_TABLE_FULL).
  static constexpr std::size_t kMaxStacks = 1 << 18;

  // The id of `pcs` (leaf first), stored on first sight; -ENOSPC when the table is full.
  std::int32_t intern(std::vector<std::uint64_t> pcs);
  // The stack of `id`, leaf first; empty when it is not stored.
  std::vector<std::uint64_t> stack(std::int32_t id) const;
  // Drops a stack (a later sample of it gets a new id).
  void forget(std::int32_t id);
  std::size_t size() const { return ids_.size(); }

 private:
  struct Hash {
    std::size_t operator()(const std::vector<std::uint64_t>& pcs) const;
  };
  std::unordered_map<std::vector<std::uint64_t>, std::int32_t, Hash> ids_;
  std::unordered_map<std::int32_t, const std::vector<std::uint64_t>*> stacks_;  // into ids_
  std::int32_t next_ = 0;
};

}  // namespace goscry
