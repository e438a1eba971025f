// One process sampled for a while, as `goscry record` does it: the process's symbolizer and
// module build-ids opened before it can go, its goroutines and pprof labels when it is a Go
// program (stacks only otherwise), a CPU sampler of its own (bpf/cpu.bpf.c), and the loop
// that reads the sampler's ring often enough never to lose samples and symbolizes new
// stacks each second while the target still lives (cpu_recording.h). The rendering of the
// result (pprof, folded, SVG) is the caller's.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/cpu/cpu_profile.h"
#include "agent/cpu/cpu_recording.h"
#include "agent/cpu/cpu_target.h"
#include "agent/goruntime/go_process.h"
#include "agent/probes/bpf_loader.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {

struct CpuSessionSettings {
  int pid = 0;
  int hz = 99;
  bool goid_labels = false;
};

// Why the sampling ended.
enum class CpuSessionEnd { Duration, TargetExited, Stopped };

class CpuSession {
 public:
  // Refuses a Go program with a plugin (as every verb does) and a gone process; a process
  // that is not Go (a C program that loaded a c-shared Go library) is sampled as native
  // code, and note() says why it has no goroutines nor labels.
  static Result<std::unique_ptr<CpuSession>> open(const CpuSessionSettings& settings);

  // Samples for `duration`, less when the target exits or `stop` says so; `progress`
  // (samples so far, seconds so far) once a second.
  using Progress = std::function<void(std::uint64_t samples, double seconds)>;
  CpuSessionEnd run(std::chrono::nanoseconds duration, const std::function<bool()>& stop,
                    const Progress& progress);

  const std::string& note() const { return target_.note; }
  const CpuRecording& recording() const { return *recording_; }
  ProcessSymbolizer* symbolizer() const { return target_.symbolizer.get(); }
  const ModuleIds& module_ids() const { return module_ids_; }
  const CpuSessionSettings& settings() const { return settings_; }
  // The sampling's wall-clock start (Unix ns) and length, once run() returned.
  std::int64_t start_unix_ns() const { return start_unix_ns_; }
  std::chrono::nanoseconds elapsed() const { return elapsed_; }
  // What was lost ("" when nothing was), after run(): samples (the ring was full), stacks
  // (their samples are under a "[stack lost: why]" frame), goroutines and label sets.
  std::string lost_summary() const;

 private:
  CpuSession() = default;
  void drain();

  CpuSessionSettings settings_;
  CpuTarget target_;
  ModuleIds module_ids_;
  std::unique_ptr<CpuSampler> sampler_;
  std::optional<CpuRecording> recording_;
  std::int64_t start_unix_ns_ = 0;
  std::chrono::nanoseconds elapsed_{0};
};

}  // namespace goscry
