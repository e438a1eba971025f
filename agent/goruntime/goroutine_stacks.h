// Goroutines read from memory, symbolized: each pc of a stack becomes the frames Go's
// traceback would print for it (inlined calls included), with the "+0x1d" offset, and the
// creator's `go` statement becomes "created by F in goroutine N / file:line". Formats
// (traceback text, goroutine profiles, JSON) are drawn from this one view.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/goruntime/code_location.h"
#include "agent/goruntime/frame_args.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_reader.h"
#include "agent/goruntime/pc_facts.h"

namespace goscry {

struct StackFrame {
  std::string function;
  std::string file;
  int line = 0;
  bool inlined = false;     // an inlined call: Go prints "(...)" and no offset
  std::uint64_t pc = 0;     // run-time pc of the physical frame (a return address but [0])
  std::uint64_t entry = 0;  // run-time entry of the physical function (0 if unknown)
  FuncKind kind = FuncKind::kNormal;
  // Symbolized at pc itself, not at the call before it: the pc a thread was stopped at, or
  // the one an injected call interrupted (go-runtime.md "Unwinding goroutine stacks").
  bool exact = false;
  // The runtime leaves this frame out of its tracebacks and pc buffers (a wrapper: the
  // `go f(x)` closure, a method-value wrapper; symbolizer/wrapper_frames.h).
  bool elided = false;
  // The layout of a physical frame's arguments (null for an inlined call or unknown pc).
  std::shared_ptr<const FrameArgs> args = nullptr;
};

// runtime.goexit's frame, printed with its arguments: its one argument is an empty
// struct, "({})" where the binary has its argument info (newer toolchains), "()" without.
struct BottomFrame {
  StackFrame frame;
  std::string args;
};

// The creator's `go` statement: its function is the physical one holding it.
struct CreatedBy : CodeLocation {
  std::uint64_t pc = 0;  // gopc
  std::uint64_t entry = 0;
  std::uint64_t parent_goid = 0;  // 0 when the Go version does not record it (< 1.21)
};

// The frames of one stack, read-only and shared by every goroutine with that stack: the
// 100,000 goroutines of a server mostly have a handful of stacks, and copying their frames
// (two strings each) per goroutine was most of the cost of a dump. Reads like a vector.
class SharedFrames {
 public:
  SharedFrames() = default;
  SharedFrames(std::vector<StackFrame> frames)
      : p_(std::make_shared<const std::vector<StackFrame>>(std::move(frames))) {}
  SharedFrames(std::initializer_list<StackFrame> frames)
      : SharedFrames(std::vector<StackFrame>(frames)) {}

  const std::vector<StackFrame>& get() const { return p_ ? *p_ : empty_; }
  auto begin() const { return get().begin(); }
  auto end() const { return get().end(); }
  std::size_t size() const { return get().size(); }
  bool empty() const { return get().empty(); }
  const StackFrame& front() const { return get().front(); }
  const StackFrame& operator[](std::size_t i) const { return get()[i]; }
  // The same for every goroutine sharing these frames (formats render a stack once).
  const void* id() const { return p_.get(); }

 private:
  static inline const std::vector<StackFrame> empty_;
  std::shared_ptr<const std::vector<StackFrame>> p_;
};

struct GoroutineView {
  Goroutine g;
  std::string state;         // "chan receive", "running", ...
  std::int64_t wait_ns = -1;  // how long it has waited (waiting goroutines with waitsince)
  bool system = false;        // Go's isSystemGoroutine
  SharedFrames frames;        // innermost first, runtime frames included
  // runtime.goexit's frame under a stack walked to its end: Go prints it when every other
  // frame is hidden, as for a goroutine not started.
  std::shared_ptr<const BottomFrame> goexit;
  std::optional<CreatedBy> created_by;
};

// Symbolizes each distinct stack, pc, creator and start function once (a dump of 100,000
// goroutines holds few of each).
class StackSymbolizer {
 public:
  // `facts`: the read's (GoroutineList::pc_facts), shared; null for fresh ones.
  explicit StackSymbolizer(const GoProcess& t, std::shared_ptr<PcFacts> facts = nullptr)
      : target_(t), facts_(facts ? std::move(facts) : std::make_shared<PcFacts>(t)) {}
  // The frames of one pc of a stack. A return address is looked up at pc - 1, in the call's
  // line, except at a function's entry (a goroutine that has not started); an `exact` pc,
  // where a running goroutine was stopped, at pc itself.
  const std::vector<StackFrame>& frames(std::uint64_t pc, bool exact);
  // The frames of a whole stack (Goroutine::pcs); `exact_first`: pcs[0] is exact. The pc
  // under an injected call is exact too, as the runtime's unwinder takes it.
  SharedFrames stack(const std::vector<std::uint64_t>& pcs, bool exact_first = false);
  std::optional<CreatedBy> created_by(const Goroutine& g);
  bool system(const Goroutine& g);
  // The frame of runtime.goexit at the return address every goroutine stack ends with.
  const std::shared_ptr<const BottomFrame>& goexit();

  const GoProcess& target() const { return target_; }
  const std::shared_ptr<PcFacts>& facts() const { return facts_; }
  // How many pcs, stacks, creators and start functions it remembers, its PcFacts' pcs
  // included: what a holder that keeps it from one read to the next bounds
  // (goroutine_memo.h).
  std::size_t remembered() const;

 private:
  // The frame at pc is a call the runtime injected (a signal handler made it look called
  // from the interrupted pc), so the frame under it is symbolized at its pc.
  bool injected_call(std::uint64_t pc);

  std::shared_ptr<const BottomFrame> goexit_;
  struct PcsHash {
    std::size_t operator()(const std::vector<std::uint64_t>& pcs) const;
  };
  const GoProcess& target_;
  std::shared_ptr<PcFacts> facts_;
  std::unordered_map<std::uint64_t, std::vector<StackFrame>> cache_;
  std::unordered_map<std::vector<std::uint64_t>, SharedFrames, PcsHash> stacks_;
  std::unordered_map<std::uint64_t, std::optional<CreatedBy>> creators_;  // by gopc
  std::unordered_map<std::uint64_t, bool> system_;                         // by startpc
};

// The goroutines of a read (GoroutineList::goroutines, moved in: their stacks and argument
// words are not copied) as views; `read_at` is the list's, for the wait times, `facts` its
// pc_facts (null: fresh ones).
std::vector<GoroutineView> symbolize_goroutines(const GoProcess& t, std::vector<Goroutine> gs,
                                                std::int64_t read_at,
                                                std::shared_ptr<PcFacts> facts = nullptr);
// The same with a symbolizer that may know the pcs from earlier reads.
std::vector<GoroutineView> symbolize_goroutines(StackSymbolizer& sym, std::vector<Goroutine> gs,
                                                std::int64_t read_at);

// Go's showframe at GOTRACEBACK=all: frames of unexported runtime functions are hidden.
bool shown_in_traceback(const std::string& function);
// The same for a frame: its function is shown and it is not an elided wrapper.
inline bool shown_in_traceback(const StackFrame& f) {
  return !f.elided && shown_in_traceback(f.function);
}

}  // namespace goscry
