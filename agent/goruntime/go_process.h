// A running Go program opened for reading from outside: the one handle every consumer
// opens it through (`dump`, `heap`, `leaks`, `top`, `gc`, `record`, and the agent's BPF
// watch, leak detector and CPU profiler). It holds the process (memory reads), the facts
// of its binary, shared with every other process running the same binary (go_binary_facts.h:
// .gopclntab, runtime layout, allgs, goexit), and what is this process's own: its load bias.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/goruntime/go_binary_facts.h"
#include "symbolizer/error.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/process.h"
#include "symbolizer/runtime_globals.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {

class GoProcess {
 public:
  // Errors name the pid and the cause: no such process, no permission, not a Go binary,
  // no Go version, a Go plugin loaded, a Go version whose runtime layout goscry does not
  // know, allgs not found. The binary is opened through `cache` (shared_module_cache() by
  // default), so a second process of one binary finds it indexed.
  static Result<std::unique_ptr<GoProcess>> open(
      pid_t pid, std::shared_ptr<ModuleCache> cache = shared_module_cache());

  pid_t pid() const { return process_->pid(); }
  const Process& process() const { return *process_; }
  // The executable's path as the process sees it (/proc/PID/exe).
  const std::string& exe() const { return exe_; }
  const GoBinary& binary() const { return *facts_->binary; }
  const std::shared_ptr<const GoBinary>& binary_ptr() const { return facts_->binary; }
  // The facts of the binary, the same object for every process that runs it.
  const std::shared_ptr<const GoBinaryFacts>& facts() const { return facts_; }
  const RuntimeLayout& layout() const { return *facts_->layout; }
  std::string go_version() const { return binary().go_version(); }
  // Run-time address = link-time address + bias (0 unless PIE).
  std::uint64_t bias() const { return bias_; }
  // Run-time addresses of runtime.allglen and runtime.allgptr.
  std::uint64_t allglen_addr() const { return facts_->allgs->allglen + bias_; }
  std::uint64_t allgptr_addr() const { return facts_->allgs->allgptr + bias_; }
  const std::string& allgs_source() const { return facts_->allgs->source; }

  // Frames at a run-time pc, innermost first, symbolized at exactly that pc.
  std::vector<Frame> frames(std::uint64_t runtime_pc) const;
  std::optional<FuncBounds> function_at(std::uint64_t runtime_pc) const;
  // [entry, end) of runtime.goexit at run time: the bottom of every goroutine stack.
  std::uint64_t goexit_entry() const { return facts_->goexit->entry + bias_; }
  std::uint64_t goexit_end() const { return facts_->goexit->end + bias_; }

 private:
  GoProcess() = default;

  std::unique_ptr<Process> process_;
  std::string exe_;
  std::shared_ptr<const GoBinaryFacts> facts_;
  std::uint64_t bias_ = 0;
};

}  // namespace goscry
