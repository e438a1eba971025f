// Puts the runtime probes on one Go process: which functions for its Go version
// (docs/go-runtime.md), where (file offsets of entries and RETs, and for the per-goroutine probes
// instructions the kernel emulates, symbolizer/emulated_probes.h; decoded with Zydis), the
// settings the BPF side needs, and the links — removed again when the Attachment goes
// (destructor), so Ctrl-C, an error or the end of a verb leave no probe behind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/probes/bpf_loader.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"
#include "symbolizer/process_symbolizer.h"  // load_bias
#include "symbolizer/runtime_layout.h"

namespace goscry {

// How closely a target's goroutines are followed (docs/agent.md "Goroutine tiers").
// kTrace: the creation and exit probes, two traps per goroutine, exact created/exited per
// site. kWatch: neither of them, nothing per goroutine; the live count is read from the
// runtime's memory (goruntime/goroutine_count.h). The GC and STW probes, which run per
// cycle, go in for both.
enum class GoroutineTier { kWatch, kTrace };
const char* tier_name(GoroutineTier t);

struct ProbePlan {
  goscry_settings settings{};
  std::vector<UprobeRequest> uprobes;
};

// The probes for `sym`'s binary (the file at `binary_path`, run as `pid`, built by
// `go_version`). Addresses in the settings (work_addr) and of the uprobes are link-time
// ones: attach() adds the load bias.
Result<ProbePlan> plan_probes(const GoBinary& sym, const std::string& binary_path, int pid,
                              std::string_view go_version,
                              GoroutineTier tier = GoroutineTier::kTrace);
// The same with the binary's runtime layout already known (GoBinaryFacts), so a process of
// a binary whose layout came from its DWARF is not parsed again at each attach.
Result<ProbePlan> plan_probes(const GoBinary& sym, const RuntimeLayout& layout,
                              const std::string& binary_path, int pid,
                              std::string_view go_version,
                              GoroutineTier tier = GoroutineTier::kTrace);

class Attachment {
 public:
  // Probes process `pid` through /proc/PID/exe. `flags`: enum goscry_settings_flags
  // (GOSCRY_TRACE_GOROUTINES: one ring-buffer event per goroutine created and ended).
  static Result<std::unique_ptr<Attachment>> attach(BpfLoader& loader, int pid,
                                                    std::string_view go_version,
                                                    std::uint32_t flags = 0);
  static Result<std::unique_ptr<Attachment>> attach(BpfLoader& loader, const GoBinary& sym,
                                                    int pid, std::string_view go_version,
                                                    std::uint32_t flags = 0,
                                                    GoroutineTier tier = GoroutineTier::kTrace);
  // On a process already open: its binary's layout and its load bias as the process handle
  // has them (GoProcess), not computed again.
  static Result<std::unique_ptr<Attachment>> attach(BpfLoader& loader, const GoBinary& sym,
                                                    const RuntimeLayout& layout,
                                                    std::uint64_t bias, int pid,
                                                    std::string_view go_version,
                                                    std::uint32_t flags, GoroutineTier tier);
  // Detaches every probe, then forgets the target's map entries.
  ~Attachment();
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

  int pid() const { return pid_; }
  std::size_t probe_count() const { return links_.size(); }
  // What the BPF side was given, addresses at run time (load bias added).
  const goscry_settings& settings() const { return settings_; }
  // Lowers settings.event_goid_max (attach starts with every goroutine in the window map):
  // from then on only goroutines with a goid up to `goid` go there (bpf/runtime.h).
  Result<void> set_event_goid_max(std::uint64_t goid);
  // Closes the attach window (GOSCRY_WINDOW_CLOSED): from then on only goroutines with a
  // goid up to `goid_generator` (runtime.sched.goidgen read after the probes) go into the
  // window map, which keeps each entry until the agent has read it.
  Result<void> close_window(std::uint64_t goid_generator);

 private:
  Attachment(BpfLoader& loader, int pid) : loader_(loader), pid_(pid) {}
  // Moves the plan to run-time addresses, fills the target's settings, then attaches.
  static Result<std::unique_ptr<Attachment>> attach_plan(BpfLoader& loader, int pid,
                                                         ProbePlan plan, std::uint64_t bias,
                                                         std::uint32_t flags);
  BpfLoader& loader_;
  int pid_;
  std::vector<UprobeLink> links_;
  goscry_settings settings_{};
};

}  // namespace goscry
