// The bytes at goscry's probe sites in a live target, against the file's: the oracle that a
// target was left as it was (no uprobe, no breakpoint) whatever happened to goscry.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace goscry::testing {

// The first byte of every probed instruction, as the file has it and as the target's
// memory has it now (a uprobe shows as 0xCC, int3, in the process's copy of the page).
// The sites are the ones goscry would attach (plan_probes), so a probe left behind shows.
struct ProbeBytes {
  std::vector<std::uint8_t> file, memory;
  // Probed instructions whose first byte is not the file's: an int3, or on Linux 6.18+ for
  // a probe on a 5-byte NOP, the CALL (e8) to the uprobe trampoline the kernel puts there
  // after the first hit.
  std::size_t breakpoints() const;
};

ProbeBytes probe_bytes(pid_t pid, const std::string& exe, const std::string& go_version);

}  // namespace goscry::testing
