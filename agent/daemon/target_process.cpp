#include "agent/daemon/target_process.h"

#include <malloc.h>

namespace goscry {

TargetProcess::~TargetProcess() {
  const bool opened = opened_ && opened_->has_value();
  opened_.reset();
  if (opened) malloc_trim(0);
}

Result<std::shared_ptr<const GoProcess>> TargetProcess::get() {
  std::lock_guard lock(mu_);
  if (!opened_) {
    opened_ = GoProcess::open(pid_);
    // Opening read the binary's tables (the runtime layout from its DWARF): with 100
    // targets found at once, those pages were the agent's peak RSS.
    if (*opened_) release_binary_pages(***opened_);
  }
  return *opened_;
}

void release_binary_pages(const GoProcess& t) { t.binary().elf().release_resident_pages(); }

}  // namespace goscry
