// What the sources that read a target's memory on a worker thread (leak_source, heap_source)
// do alike when a target goes.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "agent/daemon/target_source.h"

namespace goscry {

// Takes `info`'s entry out of `targets` (under `mu`), waits for a read of it in progress (its
// Watched::mu), and drops it. The memory of the target's process handle goes back to the
// system when its last holder drops it (target_process.h).
template <class Watched>
void forget_target(std::mutex& mu, std::map<pid_t, std::shared_ptr<Watched>>& targets,
                   const TargetInfo& info) {
  std::shared_ptr<Watched> gone;
  {
    std::lock_guard lock(mu);
    auto it = targets.find(info.pid);
    if (it == targets.end() || it->second->info.start_ticks != info.start_ticks) return;
    gone = std::move(it->second);
    targets.erase(it);
  }
  std::lock_guard lock(gone->mu);  // a read in progress ends first
}

}  // namespace goscry
