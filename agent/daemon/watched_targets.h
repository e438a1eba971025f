// What the sources that read a target's memory on a worker thread (leak_source, heap_source)
// do alike when a target goes.
#pragma once

#include <malloc.h>

#include <map>
#include <memory>
#include <mutex>

#include "agent/daemon/target_source.h"

namespace goscry {

// Takes `info`'s entry out of `targets` (under `mu`), waits for a read of it in progress (its
// Watched::mu), and drops it. A binary's index is a few large blocks that glibc keeps in its
// arenas once freed (the worker thread has its own), so an agent whose targets come and go
// would grow: when the target had been opened, the free pages go back (agent_churn_test).
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
  bool opened;
  {
    std::lock_guard lock(gone->mu);
    opened = gone->process != nullptr;
  }
  gone.reset();
  if (opened) malloc_trim(0);
}

}  // namespace goscry
