// The runtime's wrapper elision: every Go traceback (runtime.Stack, SIGQUIT, panics),
// every pc buffer (runtime.Callers, the CPU and goroutine profiles) leaves out frames of
// functions tagged with the wrapper funcID — method-value and ABI wrappers, and the
// closure the compiler writes for `go f(x)` (`main.main.gowrap1` from Go 1.22,
// `main.main.func1` before) — unless the wrapper called a panic function instead of the
// function it wraps (runtime/traceback.go: showfuncinfo, elideWrapperCalling,
// tracebackPCs; gentraceback before 1.21). The rule has not changed from Go 1.12 to 1.27.
//
// The funcID numbers did: the enum gained entries over the releases (corostart in 1.23,
// runFinalizers and runCleanups later), so they are read from the binary itself rather
// than from a table per release: the funcIDs of runtime.gopanic, runtime.sigpanic and
// runtime.panicwrap are their _func records', and the wrapper funcID, the enum's last
// entry in every release, is the largest funcID any function of the binary carries
// (every Go binary since 1.17 holds ABI wrappers; method wrappers before).
#pragma once

#include <cstdint>

namespace goscry {

class Pclntab;

// What the elision rule asks of a frame's function.
enum class FuncKind : std::uint8_t {
  kNormal,
  kWrapper,  // funcID wrapper
  kPanic,    // runtime.gopanic, runtime.sigpanic, runtime.panicwrap: a wrapper calling one stays
};

struct WrapperFuncIds {
  bool known = false;  // false: no elision (a table without funcIDs, or implausible ones)
  std::uint8_t wrapper = 0;
  std::uint8_t gopanic = 0;
  std::uint8_t sigpanic = 0;
  std::uint8_t panicwrap = 0;  // 0 when the linker dropped runtime.panicwrap

  FuncKind kind(std::uint8_t id) const {
    if (!known || id == 0) return FuncKind::kNormal;
    if (id == wrapper) return FuncKind::kWrapper;
    if (id == gopanic || id == sigpanic || id == panicwrap) return FuncKind::kPanic;
    return FuncKind::kNormal;
  }
};

WrapperFuncIds read_wrapper_func_ids(const Pclntab& table);

// elideWrapperCalling: a wrapper's frame is left out unless its callee — the next frame
// inward, inlined ones included; a normal function above the innermost — is a panic.
inline bool elided_wrapper(FuncKind kind, FuncKind callee) {
  return kind == FuncKind::kWrapper && callee != FuncKind::kPanic;
}

// Walks a stack's frames innermost first (logical frames: inlined calls included, native
// and kernel frames as kNormal) and says of each whether the runtime leaves it out.
class WrapperElision {
 public:
  bool elided(FuncKind kind) {
    const bool e = elided_wrapper(kind, callee_);
    callee_ = kind;
    return e;
  }

 private:
  FuncKind callee_ = FuncKind::kNormal;  // the runtime's calleeFuncID starts normal
};

}  // namespace goscry
