// Every goroutine of a running Go program, read from its memory: runtime.allgs, then each
// g (id, status, wait reason, wait start, creator, scheduler registers), then each parked
// goroutine's stack unwound by frame pointers from g.sched.{pc,sp,bp}. `goscry dump`, the
// leak detector and the agent's /debug/pprof/goroutine share it.
//
// The target runs on while we read. The runtime only ever appends to allgs (it reuses dead
// g structs instead of freeing them) and publishes allgptr before allglen, so reading
// allglen first and then allgptr gives a valid prefix; when either changed by the end of
// the read, the whole read is retried (a bounded number of times) so that one result
// describes one moment. A goroutine can still change state between its g read and its
// stack walk; the walk then stops where the chain leaves the goroutine's stack.
//
// Reads are batched (Process::read_batch, neighbouring ranges merged): the g structs a
// slice at a time, then each goroutine's stack from sched.sp up in one piece, walked
// locally; only stacks deeper than that window go on one frame record per read, in lock
// step. 100,000 goroutines cost a few hundred syscalls and page walks, not a million.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "agent/base/monotonic_clock.h"
#include "agent/goruntime/go_process.h"
#include "agent/proc/thread_seize.h"
#include "symbolizer/error.h"

namespace goscry {

// g.atomicstatus values (stable since Go 1.0; 10 and 11 are 1.26+).
enum GStatus : std::uint32_t {
  kGidle = 0,
  kGrunnable = 1,
  kGrunning = 2,
  kGsyscall = 3,
  kGwaiting = 4,
  kGdead = 6,
  kGcopystack = 8,
  kGpreempted = 9,
  kGleaked = 10,
  kGdeadextra = 11,
  kGscan = 0x1000,
};

struct Goroutine {
  std::uint64_t g = 0;  // address of the runtime.g
  std::uint64_t goid = 0;
  std::uint32_t status = 0;  // _Gscan masked off
  bool scan = false;         // the _Gscan bit was set
  std::uint8_t wait_reason = 0;
  std::int64_t waitsince = 0;  // nanotime (CLOCK_MONOTONIC); 0 = unknown (set by the GC)
  std::uint64_t parent_goid = 0;  // 0 before Go 1.21
  std::uint64_t gopc = 0;         // run-time pc of the `go` statement
  std::uint64_t startpc = 0;      // run-time entry of the goroutine's function
  std::uint64_t sched_pc = 0, sched_sp = 0, sched_bp = 0;
  std::uint64_t sched_lr = 0;  // arm64: the caller of a function whose frame is not set up
  std::uint64_t stack_lo = 0, stack_hi = 0;
  bool locked_to_thread = false;  // g.lockedm set: runtime.LockOSThread wired it to its M
  // g.trackingSeq: the runtime adds one each time the goroutine stops running (wrapping at
  // 256), so two reads that agree on it saw no run-and-park in between.
  std::uint8_t tracking_seq = 0;
  // Run-time pcs, innermost first: [0] = sched.pc, then return addresses, runtime.goexit
  // excluded. Empty for a running goroutine (its registers are on a CPU, not in g.sched).
  std::vector<std::uint64_t> pcs;
  bool stack_truncated = false;  // the walk stopped before runtime.goexit
  // FNV-1a of the stack bytes the walk read (sched.sp up to its last frame record): a
  // second read of the same g that finds other bytes saw the goroutine run in between.
  std::uint64_t stack_hash = 0;
  // The goroutine kept running under every read of it (ReadOptions::validate): its g or its
  // stack changed between two reads each time, so no stack is given (pcs empty) rather
  // than one it may never have had.
  bool torn = false;
  // A running goroutine unwound from its thread's registers (ReadOptions::threads): pcs[0]
  // is the pc it was stopped at, not a return address.
  bool from_registers = false;
  // The words the arguments of pcs[0 .. arg_frames) print from, frame after frame, each
  // frame's in the order of its FrameArgs offsets (ReadOptions::args; frame_args.h).
  std::vector<std::uint64_t> arg_words;
  std::uint32_t arg_frames = 0;
};

class PcFacts;

struct GoroutineList {
  std::vector<Goroutine> goroutines;  // allgs order; dead and idle g structs left out
  std::uint64_t allglen = 0;
  int attempts = 0;         // reads made (1 when nothing changed under the first)
  bool consistent = false;  // allglen/allgptr were the same before and after the read
  std::uint64_t unreadable = 0;  // g structs whose read failed
  std::int64_t read_at = 0;      // CLOCK_MONOTONIC ns when the read ended (vs. waitsince)
  std::int64_t read_ns = 0;      // wall time of the last attempt
  std::uint64_t syscalls = 0;    // process_vm_readv calls of all attempts
  std::uint64_t reread = 0;      // goroutines read again because they changed under a read
  std::uint64_t torn = 0;        // goroutines left torn (Goroutine::torn)
  // What the read looked up per pc (pc_facts.h), for the symbolizer of its goroutines
  // (symbolize_goroutines): the same facts, never decoded twice.
  std::shared_ptr<PcFacts> pc_facts;
};

struct ReadOptions {
  bool stacks = true;
  int max_attempts = 5;
  std::size_t max_depth = 1024;
  // Read every goroutine's g and stack twice and keep only what both reads agree on;
  // re-read those that changed, up to validate_rounds times, then mark them torn. Off when
  // the target is stopped (nothing can change under the read).
  bool validate = true;
  int validate_rounds = 4;
  // The registers of the stopped target's threads (TargetPause::registers): a running
  // goroutine whose g one of them holds is unwound from them, as a debugger shows it.
  std::vector<ThreadRegisters> threads = {};
  // Read the words each frame's arguments print from (Goroutine::arg_words), for formats
  // that print them as Go's traceback does.
  bool args = false;
  // An earlier read's pc_facts of the same target, kept: this read looks up only the pcs
  // that one did not (goroutine_memo.h). Null: fresh ones.
  std::shared_ptr<PcFacts> facts = nullptr;
};

// Neighbouring reads closer than this are read as one range (Process::read_batch): g structs
// of one heap span sit a size class apart, goroutine stacks of one span close together.
constexpr std::size_t kMergeGap = 4095;

Result<GoroutineList> read_goroutines(const GoProcess& target, const ReadOptions& opt = {});

// The argument words of goroutines from an earlier read made without them (the leak
// detector's snapshots), for the few a report prints: each is read again, g, stack and
// words, validated as read_goroutines validates, and takes the words only when that read
// finds the same stack at the same moment (status, registers, stack bytes, trackingSeq) as
// the earlier one. One that moved on or exited keeps none, and its frames print "(...)".
// `facts`: a read's (GoroutineList::pc_facts), or null for fresh ones.
Result<void> read_args_again(const GoProcess& target, std::span<Goroutine* const> gs,
                             PcFacts* facts = nullptr);

// What Go's traceback prints between the brackets: the wait reason of a waiting goroutine,
// else the status name ("running", "syscall"), from the binary's own tables.
std::string state_name(const GoProcess& target, const Goroutine& g);

// Go's isSystemGoroutine (is_system_start_function of its start function, one rule for
// all of goscry). Go's own tracebacks and goroutine profiles leave them out.
bool is_system_goroutine(const GoProcess& target, const Goroutine& g);


}  // namespace goscry
