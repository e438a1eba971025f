// What /proc and the target's binary say about a target, with no BPF: who it is (exe,
// Go version, start time) and whether it still runs. The first TargetSource, and the
// discovery of Go processes for `goscry agent --all`.
#pragma once

#include <optional>
#include <vector>

#include "agent/daemon/target_source.h"

namespace goscry {

// Reads /proc/PID/{stat,exe} and the Go version of the binary. Fails with one sentence:
// "pid 4242: no such process", "pid 1: /proc/1/exe: no .go.buildinfo (not a Go binary?)".
Result<TargetInfo> identify_target(pid_t pid);

// The start time of pid (field 22 of /proc/PID/stat), or nothing if it is gone. A zombie
// counts as gone: it runs no Go code any more.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// Whether this very process (pid and start time) still runs.
bool target_alive(const TargetInfo& t);

// Every pid under /proc (numbers only), threads excluded.
std::vector<pid_t> list_pids();

class ProcTargetSource : public TargetSource {
 public:
  std::string_view name() const override { return "proc"; }
  Result<void> attach(const TargetInfo&) override { return {}; }
  void detach(const TargetInfo&) override {}
  void read(const TargetInfo& target, TargetFigures& figures) override;
};

}  // namespace goscry
