// Where the runtime keeps the list of all goroutines: runtime.allglen (how many) and
// runtime.allgptr (= &allgs[0]), the pair the runtime itself reads without a lock
// (atomicAllG, used by forEachGRace). goscry reads them from a live process to count
// the goroutines that were alive before its probes were attached (docs/architecture.md decision 3).
//
// With .symtab the addresses are the symbols'. Stripped binaries keep no data symbols, so
// they are recovered from the machine code of runtime.forEachGRace, whose first two
// RIP-relative loads are `MOVQ runtime.allglen(SB)` and `MOVQ runtime.allgptr(SB)` in
// every release 1.19-1.27 (atomicAllG inlined, allglen read first).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"
#include "symbolizer/machine_code.h"

namespace goscry {

// Link-time virtual addresses (a PIE adds its load bias).
struct AllgAddresses {
  std::uint64_t allglen = 0;
  std::uint64_t allgptr = 0;
  std::string source;  // ".symtab" or "runtime.forEachGRace code"
};

// The absolute targets of the RIP-relative memory loads (MOV reg, [rip+disp]) in `code`,
// which starts at virtual address `entry`, in program order.
Result<std::vector<std::uint64_t>> rip_relative_loads(std::span<const std::uint8_t> code,
                                                      std::uint64_t entry,
                                                      const std::string& name);

// [entry, end) of runtime.forEachGRace, from the pclntab when there is no .symtab.
struct CodeRange {
  std::uint64_t entry = 0;
  std::uint64_t end = 0;
};

// The absolute addresses `code` loads registers from pc-relatively, in program order:
// on amd64 rip_relative_loads; on arm64 the loads (LDR, LDAR) through a register that
// `ADRP` (+ `ADD $off`) had just pointed at a global, Go's arm64 form of `MOVD sym(SB), R`
// and of atomic loads of a global.
Result<std::vector<std::uint64_t>> pc_relative_loads(Isa isa, std::span<const std::uint8_t> code,
                                                     std::uint64_t entry,
                                                     const std::string& name);

// .symtab first; else decodes `for_each_g_race` (required then), in the file's instruction
// set: its first two pc-relative loads (arm64: `ADRP; ADD; LDAR` each, atomicAllG).
Result<AllgAddresses> find_allg(const ElfFile& elf, std::optional<CodeRange> for_each_g_race);

// The absolute targets of every RIP-relative memory operand in `code` (loads, stores,
// read-modify-writes), in program order.
Result<std::vector<std::uint64_t>> rip_relative_targets(std::span<const std::uint8_t> code,
                                                        std::uint64_t entry,
                                                        const std::string& name);

// runtime.work (Go <= 1.21 time GC pauses by work.pauseStart / work.tEnd; every release
// counts GC cycles in work.cycles): from .symtab, else from runtime.gcMarkTermination, whose
// `work.pauseNS += ...; work.tEnd = now` is in every release 1.19-1.27: the one base
// address B with an add to B + pause_ns in memory shortly before a write of B + t_end.
Result<std::uint64_t> find_runtime_work(const ElfFile& elf,
                                        std::optional<CodeRange> gc_mark_termination,
                                        int pause_ns, int t_end);

// Where the heap profile lives (docs/go-runtime.md "The heap profile"): runtime.mbuckets
// (the head of the list of every memory-profile bucket), runtime.MemProfileRate and
// runtime.mProfCycle, link-time addresses.
struct HeapProfileAddresses {
  std::uint64_t mbuckets = 0;
  std::uint64_t mem_profile_rate = 0;
  std::uint64_t mprof_cycle = 0;
  std::string source;  // ".symtab" or "runtime code"
};

// The functions whose code names the heap profile's globals when there is no .symtab, each
// present in every release 1.19-1.27 (the GC and malloc call them, whatever the program
// links): runtime.mProf_FlushLocked's first RIP-relative load is mbuckets,
// runtime.mProf_Free's is mProfCycle, runtime.profilealloc's second is MemProfileRate (its
// first is mcache0).
struct HeapProfileCode {
  std::optional<CodeRange> mprof_flush_locked;
  std::optional<CodeRange> mprof_free;
  std::optional<CodeRange> profilealloc;
};

// .symtab first; else heap_profile_from_code.
Result<HeapProfileAddresses> find_heap_profile(const ElfFile& elf, const HeapProfileCode& code);
// Decodes the functions of `code` (each required).
Result<HeapProfileAddresses> heap_profile_from_code(const ElfFile& elf,
                                                    const HeapProfileCode& code);

// Where the block and mutex profiles live (docs/go-runtime.md "The block and mutex
// profiles"): runtime.bbuckets and runtime.xbuckets (the heads of their bucket lists),
// runtime.blockprofilerate and runtime.mutexprofilerate, and runtime.ticks (the cached
// cputicks per second runtime/pprof converts cycles with; only from .symtab).
struct ContentionProfileAddresses {
  std::uint64_t bbuckets = 0;
  std::uint64_t xbuckets = 0;
  std::uint64_t block_rate = 0;
  std::uint64_t mutex_rate = 0;
  std::optional<std::uint64_t> ticks;
  std::string source;  // ".symtab" or "runtime code"
};

// Without .symtab, in every release 1.19-1.27: runtime.stkbucket picks the list a new
// bucket goes on with `LEAQ runtime.mbuckets(SB); ... LEAQ runtime.xbuckets(SB); ... LEAQ
// runtime.bbuckets(SB)` (memProfile, mutexProfile, else block), so the two LEAs after the
// one of `mbuckets` (known from find_heap_profile); runtime.semacquire1 tests
// `blockprofilerate > 0` then `mutexprofilerate > 0`, its first two compares of a global
// with 0.
struct ContentionProfileCode {
  std::optional<CodeRange> stkbucket;
  std::optional<CodeRange> semacquire1;
  std::uint64_t mbuckets = 0;  // link-time
};

// .symtab first; else from `code` (amd64 only: goscry opens no process of another
// architecture).
Result<ContentionProfileAddresses> find_contention_profile(const ElfFile& elf,
                                                           const ContentionProfileCode& code);
// Decodes the functions of `code` (each required).
Result<ContentionProfileAddresses> contention_profile_from_code(
    const ElfFile& elf, const ContentionProfileCode& code);

// runtime.sched.goidgen, the goid generator: every goid the runtime ever handed out is at
// most its value (the Ps take goids from it in batches of 16, _GoidCacheBatch). Found in
// runtime.newproc1's `pp.goidcache = sched.goidgen.Add(_GoidCacheBatch)`, which every
// release 1.19-1.27 compiles to `MOVL $16, R1; LEAQ runtime.sched+off(SB), R2;
// LOCK XADDQ R1, 0(R2)` (the other 64-bit XADD of newproc1, gcController.maxStackScan's,
// adds a variable): the LEA's target. One path for every binary, stripped or not.
Result<std::uint64_t> find_goid_generator(const ElfFile& elf, CodeRange newproc1);

// runtime.gcController, the GC pacer (heap goal, GOGC, GOMEMLIMIT, the mark CPU of the
// cycle): from .symtab, else from runtime.gcControllerCommit, whose
// `gcController.commit(...)` is `LEAQ runtime.gcController(SB), AX; ... CALL
// runtime.(*gcControllerState).commit(SB)` in every release 1.19-1.27: the last RIP-relative
// LEA into RAX before the CALL to `commit_entry`.
Result<std::uint64_t> find_gc_controller(const ElfFile& elf,
                                         std::optional<CodeRange> gc_controller_commit,
                                         std::uint64_t commit_entry);

// runtime.sched, the scheduler's globals (gcount() reads its free-g counts and ngsys;
// docs/go-runtime.md "Counting goroutines without a probe"): from .symtab, else
// find_goid_generator's address minus `goidgen_offset` (schedt.goidgen's offset).
Result<std::uint64_t> find_sched(const ElfFile& elf, std::optional<CodeRange> newproc1,
                                 int goidgen_offset);

// runtime.allp, the slice of every P ({ptr, len, cap}): from .symtab, else from
// runtime.retake (sysmon's, linked into every program), whose `for i := 0; i < len(allp);
// i++ { pp := allp[i] ...` reads allp and allp+8 before any other global but allpLock in
// every release 1.19-1.27: the first two pc-relative operands one word apart.
Result<std::uint64_t> find_allp(const ElfFile& elf, std::optional<CodeRange> retake);

}  // namespace goscry
