#include "agent/goruntime/goroutine_snapshot.h"

#include "agent/goruntime/goroutine_reader.h"

namespace goscry {

Result<GoroutineSnapshot> read_goroutine_snapshot(const GoProcess& target) {
  // No stacks, so nothing to validate: the g structs once (again if allgs moved meanwhile).
  auto list = read_goroutines(target, {.stacks = false, .validate = false});
  if (!list) return std::unexpected(list.error());
  GoroutineSnapshot snap;
  snap.allglen = list->allglen;
  snap.unreadable = list->unreadable;
  snap.alive.reserve(list->goroutines.size());
  for (const Goroutine& g : list->goroutines)
    snap.alive.push_back({g.goid, g.gopc, g.startpc, g.status});
  return snap;
}

}  // namespace goscry
