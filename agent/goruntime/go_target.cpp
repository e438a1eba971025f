#include "agent/goruntime/go_target.h"

#include "agent/goruntime/go_binary_facts.h"
#include "symbolizer/process.h"

namespace goscry {
namespace {

// The process is checked (and its exe read) by Process::attach_readonly; the executable
// is opened through /proc/PID/root (containers) into the program's one module cache (the
// binary GoProcess handles use too), and its PIE bias comes from the process's mappings.
Result<GoTarget> open_pid_target(int pid) {
  auto proc = Process::attach_readonly(pid);
  if (!proc) return std::unexpected(proc.error());
  auto symbolizer = ProcessSymbolizer::create(pid, shared_module_cache());
  if (!symbolizer) return std::unexpected(symbolizer.error());
  GoTarget t;
  t.pid = pid;
  t.exe = (*proc)->exe_path();
  t.process = std::move(*symbolizer);
  auto module = t.process->module(t.exe);
  if (!module) return std::unexpected(module.error());
  if (!module->payload->go) return std::unexpected(module->payload->go_error);
  t.binary = module->payload->go;
  auto bias = load_bias(t.process->maps(), t.binary->elf(), t.exe);
  if (!bias) return std::unexpected(bias.error());
  t.bias = *bias;
  return t;
}

}  // namespace

Result<GoTarget> open_go_target(const TargetOptions& t) {
  if (t.pid > 0) return open_pid_target(t.pid);
  if (t.exe.empty()) return fail(ErrorKind::BadInput, "give --pid or --exe");
  auto bin = GoBinary::open(t.exe);
  if (!bin) return std::unexpected(bin.error());
  GoTarget out;
  out.binary = *bin;
  return out;
}

}  // namespace goscry
