// The one handle on a target's Go process that every source of the agent reads it through
// (BPF watch, leak detector, heap/block/mutex reads, CPU profiler): opened once, by the
// first source that needs it, and shared, so a target costs one set of /proc reads (maps,
// load bias, the binary's facts looked up by build-id) and one process handle, not one per
// source (issue 15: file descriptors per target are O(1)). GoProcess is read-only and its
// reads are thread-safe, so the sources' threads share it without a lock of their own.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>

#include "agent/goruntime/go_process.h"

namespace goscry {

class TargetProcess {
 public:
  explicit TargetProcess(pid_t pid) : pid_(pid) {}
  // A process handle's memory is a few large blocks that glibc keeps in the arena of the
  // thread that freed them: an agent whose targets come and go would grow, so the free
  // pages go back when an opened handle goes (agent_churn_test).
  ~TargetProcess();
  TargetProcess(const TargetProcess&) = delete;
  TargetProcess& operator=(const TargetProcess&) = delete;

  // The handle, opened at the first call (the costly part, which is why it is not done
  // when the target is identified: most --all candidates are never read by every source).
  // A failure is kept too: it says the same thing to every later caller, without a retry
  // that would read the same binary again for the same answer.
  Result<std::shared_ptr<const GoProcess>> get();

 private:
  const pid_t pid_;
  std::mutex mu_;
  std::optional<Result<std::shared_ptr<const GoProcess>>> opened_;
};

// Gives back the pages of the target's binary that opening it, attaching its probes or a
// periodic read (a leak snapshot, a heap read) touched (ElfFile::release_resident_pages):
// the next read finds them in the page cache again, and between reads they are not in the
// agent's RSS. Without it, 100 targets of 35 binaries kept 60-140 MiB of them resident,
// released only when the memory budget's share was exceeded (docs/agent.md "Memory
// budget").
void release_binary_pages(const GoProcess& t);

}  // namespace goscry
