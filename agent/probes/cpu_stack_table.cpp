#include "agent/probes/cpu_stack_table.h"

#include <cerrno>
#include <limits>

namespace goscry {

std::size_t CpuStackTable::Hash::operator()(const std::vector<std::uint64_t>& pcs) const {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over whole words, mixed
  for (std::uint64_t pc : pcs) {
    h ^= pc;
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return static_cast<std::size_t>(h);
}

std::int32_t CpuStackTable::intern(std::vector<std::uint64_t> key) {
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  if (ids_.size() >= kMaxStacks) return -ENOSPC;
  // The next id not in use: the table holds fewer than kMaxStacks, so this ends quickly;
  // an agent that runs for months wraps around past INT32_MAX.
  auto advance = [](std::int32_t id) {
    return id == std::numeric_limits<std::int32_t>::max() ? 0 : id + 1;
  };
  while (stacks_.contains(next_)) next_ = advance(next_);
  const std::int32_t id = next_;
  next_ = advance(next_);
  auto [it, inserted] = ids_.emplace(std::move(key), id);
  stacks_[id] = &it->first;
  return id;
}

std::vector<std::uint64_t> CpuStackTable::stack(std::int32_t id) const {
  auto it = stacks_.find(id);
  return it == stacks_.end() ? std::vector<std::uint64_t>{} : *it->second;
}

void CpuStackTable::forget(std::int32_t id) {
  auto it = stacks_.find(id);
  if (it == stacks_.end()) return;
  auto stored = ids_.find(*it->second);  // by iterator: the key is the element's own
  stacks_.erase(it);
  ids_.erase(stored);
}

}  // namespace goscry
