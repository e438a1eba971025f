#include "symbolizer/probe_points.h"

namespace goscry {
namespace {

struct Spec {
  const char* function;
  const char* purpose;
  int min_minor;  // first Go 1.N that uses it (0: always)
  int max_minor;  // last one (0: still used)
};

// docs/go-runtime.md "Where the probes sit": creation, exit, stop/start the world, GC
// phases, the allgs anchors.
constexpr Spec kSpecs[] = {
    {"runtime.newproc1", "goroutine creation (after each CALL of it, else its RETs)", 0, 0},
    {"runtime.gdestroy", "goroutine exit (stack-check JBE: gp in RAX)", 22, 0},
    {"runtime.goexit0", "goroutine exit (stack-check JBE: gp in RAX)", 0, 21},
    {"runtime.stopTheWorldWithSema", "stop-the-world begins", 0, 0},
    {"runtime.startTheWorldWithSema", "stop-the-world ends", 0, 0},
    {"runtime.gcMarkDone", "GC mark phase ends", 0, 0},
    {"runtime.gcMarkTermination", "GC mark termination", 0, 0},
    {"runtime.allgadd", "allgs anchor (RIP-relative operands)", 0, 0},
    {"runtime.forEachGRace", "allgs anchor (RIP-relative operands)", 0, 0},
    {"runtime.casgstatus", "goroutine status changes", 0, 0},
};

std::string go1(int minor) { return "go1." + std::to_string(minor); }

}  // namespace

std::vector<ProbePoint> probe_points(const GoBinary& bin) {
  const int minor = bin.go_minor();
  std::vector<ProbePoint> out;
  for (const Spec& s : kSpecs) {
    ProbePoint p{s.function, s.purpose, std::nullopt, ""};
    if (minor != 0 && s.min_minor != 0 && minor < s.min_minor) {
      p.missing = "not used before " + go1(s.min_minor);
    } else if (minor != 0 && s.max_minor != 0 && minor > s.max_minor) {
      p.missing = "not used after " + go1(s.max_minor);
    } else {
      p.bounds = bin.find_function(s.function);
      if (!p.bounds) {
        p.missing = bin.pclntab().mentions_name(s.function)
                        ? "not in this binary: inlined everywhere"
                        : "not in this binary";
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace goscry
