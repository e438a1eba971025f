// A running Go program opened for reading from outside: its process (memory reads), its
// binary (.gopclntab: functions, frames), the runtime's struct layout for its Go version,
// the load bias of a PIE, and where runtime.allglen/allgptr live in its address space.
// `goscry dump`, the leak detector and the agent's goroutine routes all start here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "symbolizer/runtime_globals.h"
#include "symbolizer/error.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/process.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {

class GoProcess {
 public:
  // Errors name the pid and the cause: no such process, no permission, not a Go binary,
  // a Go version whose runtime layout goscry does not know, allgs not found.
  static Result<std::unique_ptr<GoProcess>> open(pid_t pid);

  pid_t pid() const { return process_->pid(); }
  const Process& process() const { return *process_; }
  const GoBinary& binary() const { return *binary_; }
  const RuntimeLayout& layout() const { return layout_; }
  std::string go_version() const { return binary_->go_version(); }
  // Run-time address = link-time address + bias (0 unless PIE).
  std::uint64_t bias() const { return bias_; }
  // Run-time addresses of runtime.allglen and runtime.allgptr.
  std::uint64_t allglen_addr() const { return allgs_.allglen + bias_; }
  std::uint64_t allgptr_addr() const { return allgs_.allgptr + bias_; }
  const std::string& allgs_source() const { return allgs_.source; }

  // Frames at a run-time pc, innermost first, symbolized at exactly that pc.
  std::vector<Frame> frames(std::uint64_t runtime_pc) const;
  std::optional<FuncBounds> function_at(std::uint64_t runtime_pc) const;
  // [entry, end) of runtime.goexit at run time: the bottom of every goroutine stack.
  std::uint64_t goexit_entry() const { return goexit_.entry + bias_; }
  std::uint64_t goexit_end() const { return goexit_.end + bias_; }

 private:
  GoProcess() = default;

  std::unique_ptr<Process> process_;
  std::shared_ptr<GoBinary> binary_;
  RuntimeLayout layout_;
  AllgAddresses allgs_;
  FuncBounds goexit_;
  std::uint64_t bias_ = 0;
};

}  // namespace goscry
