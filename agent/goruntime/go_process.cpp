#include "agent/goruntime/go_process.h"

#include <elf.h>

#include "agent/goruntime/go_plugins.h"
#include "symbolizer/process_symbolizer.h"  // load_bias

namespace goscry {

namespace {

std::string who(pid_t pid) { return "pid " + std::to_string(pid); }

}  // namespace

Result<std::unique_ptr<GoProcess>> GoProcess::open(pid_t pid) {
  auto t = std::unique_ptr<GoProcess>(new GoProcess());
  auto proc = Process::attach_readonly(pid);
  if (!proc) return std::unexpected(proc.error());
  t->process_ = std::move(*proc);
  auto bin = GoBinary::open(t->process_->exe_host_path());
  if (!bin) return context(bin.error(), who(pid));
  if (auto arch = check_architecture((*bin)->elf()); !arch) return context(arch.error(), who(pid));
  t->binary_ = std::move(*bin);
  // Before reading the runtime: with a plugin loaded, what it would find is wrong, not absent.
  if (auto r = refuse_go_plugins(pid); !r) return std::unexpected(r.error());
  auto layout = runtime_layout(t->binary_->elf(), t->binary_->go_version());
  if (!layout) return context(layout.error(), who(pid));
  t->layout_ = std::move(*layout);
  auto fegr = t->binary_->find_function("runtime.forEachGRace");
  auto allgs = find_allg(t->binary_->elf(), fegr ? std::optional<CodeRange>(CodeRange{fegr->entry, fegr->end})
                                                 : std::nullopt);
  if (!allgs) return context(allgs.error(), who(pid));
  t->allgs_ = *allgs;
  auto goexit = t->binary_->find_function("runtime.goexit");
  if (!goexit)
    return fail(ErrorKind::Unsupported,
                who(pid) + ": the binary has no runtime.goexit in its .gopclntab");
  t->goexit_ = *goexit;
  auto maps = t->process_->maps();
  if (!maps) return std::unexpected(maps.error());
  auto bias = load_bias(*maps, t->binary_->elf(), t->process_->exe_path());
  if (!bias) return context(bias.error(), who(pid));
  t->bias_ = *bias;
  return t;
}

std::vector<Frame> GoProcess::frames(std::uint64_t runtime_pc) const {
  return binary_->frames(runtime_pc - bias_);
}

std::optional<FuncBounds> GoProcess::function_at(std::uint64_t runtime_pc) const {
  auto f = binary_->function_at(runtime_pc - bias_);
  if (f) {
    f->entry += bias_;
    f->end += bias_;
  }
  return f;
}

}  // namespace goscry
