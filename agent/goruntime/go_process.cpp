#include "agent/goruntime/go_process.h"

#include "agent/goruntime/go_plugins.h"
#include "symbolizer/process_symbolizer.h"  // load_bias

namespace goscry {

namespace {

std::string who(pid_t pid) { return "pid " + std::to_string(pid); }

// The binary of the process, from the cache: the first process of a binary indexes it, the
// others find it. Not being a Go binary (or one of another architecture) is its error.
Result<std::shared_ptr<const GoBinary>> go_binary_of(const Process& process, ModuleCache& cache) {
  auto module = cache.get(process.exe_host_path());
  if (!module) return context(module.error(), who(process.pid()));
  if (!module->payload->go) return context(module->payload->go_error, who(process.pid()));
  return module->payload->go;
}

// What the goroutine reader needs of the binary's facts; the first one missing is the error.
Result<void> check_facts(pid_t pid, const GoBinaryFacts& f) {
  if (!f.layout) return context(f.layout.error(), who(pid));
  if (!f.allgs) return context(f.allgs.error(), who(pid));
  if (!f.goexit)
    return fail(ErrorKind::Unsupported,
                who(pid) + ": the binary has no runtime.goexit in its .gopclntab");
  return {};
}

}  // namespace

Result<std::unique_ptr<GoProcess>> GoProcess::open(pid_t pid, std::shared_ptr<ModuleCache> cache) {
  auto t = std::unique_ptr<GoProcess>(new GoProcess());
  auto proc = Process::attach_readonly(pid);
  if (!proc) return std::unexpected(proc.error());
  t->process_ = std::move(*proc);
  t->exe_ = t->process_->exe_path();
  auto bin = go_binary_of(*t->process_, cache ? *cache : *shared_module_cache());
  if (!bin) return std::unexpected(bin.error());
  if ((*bin)->go_version().empty())
    return fail(ErrorKind::Unsupported,
                who(pid) + " (" + t->exe_ + "): no .go.buildinfo, so no Go version to probe by");
  // Before reading the runtime: with a plugin loaded, what it would find is wrong, not absent.
  if (auto r = refuse_go_plugins(pid); !r) return std::unexpected(r.error());
  t->facts_ = go_binary_facts(std::move(*bin));
  if (auto r = check_facts(pid, *t->facts_); !r) return std::unexpected(r.error());
  auto maps = t->process_->maps();
  if (!maps) return std::unexpected(maps.error());
  auto bias = load_bias(*maps, t->binary().elf(), t->exe_);
  if (!bias) return context(bias.error(), who(pid));
  t->bias_ = *bias;
  return t;
}

std::vector<Frame> GoProcess::frames(std::uint64_t runtime_pc) const {
  return binary().frames(runtime_pc - bias_);
}

std::optional<FuncBounds> GoProcess::function_at(std::uint64_t runtime_pc) const {
  auto f = binary().function_at(runtime_pc - bias_);
  if (f) {
    f->entry += bias_;
    f->end += bias_;
  }
  return f;
}

}  // namespace goscry
