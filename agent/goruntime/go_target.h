// The Go binary behind --pid or --exe, and the load bias that maps its file addresses to
// the process's (0 for --exe and for non-PIE executables). With --pid also the process's
// symbolizer, for addresses outside the Go binary (shared libraries, cgo, the kernel).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/goruntime/go_binary_facts.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {

// Where the target comes from: --pid or --exe (exactly one).
struct TargetOptions {
  int pid = 0;
  std::string exe;
};

// The smaller sibling of GoProcess for the verbs that only look a binary up (`info`,
// `symbolize`): it works on a file alone (--exe), and on a process whose runtime goscry
// cannot read. With --pid its binary comes from the same module cache GoProcess uses, and
// go_binary_facts(binary) gives the same facts object (computed only if asked for).
struct GoTarget {
  std::shared_ptr<const GoBinary> binary;
  std::uint64_t bias = 0;  // runtime address = file vaddr + bias
  int pid = 0;
  std::string exe;  // --pid: the executable's path as the process sees it
  std::shared_ptr<ProcessSymbolizer> process;  // --pid only
};

// Errors are one sentence: "no process with pid 4242", "permission denied reading
// /proc/4242/mem: run as root or grant CAP_SYS_PTRACE", "<path>: not a Go binary (...)".
Result<GoTarget> open_go_target(const TargetOptions& t);

}  // namespace goscry
