// Where the Go runtime keeps what goscry reads from a live process: byte offsets of fields of
// runtime.g, runtime.m, runtime.moduledata, runtime.workType (the clock of GC pauses on
// Go <= 1.21: work.pauseStart, work.tEnd; the GC cycle count work.cycles, and pauseNS, which
// locates runtime.work in every release; work.heap0, the heap live at a cycle's start),
// runtime.gcControllerState (the pacer: heap goal, GOGC, GOMEMLIMIT, the mark CPU of the
// cycle; docs/go-runtime.md "Why a GC cycle ran") and the heap profile's runtime.bucket,
// runtime.memRecord and runtime.memRecordCycle (docs/go-runtime.md "The heap profile"), and
// the names Go prints for goroutine states and wait reasons ("[chan receive]"), and the
// counts runtime.gcount() takes from runtime.schedt and runtime.p (docs/go-runtime.md
// "Counting goroutines without a probe"). They change
// between Go releases, so they come from the binary's own DWARF when it has some, else from
// a table keyed by the Go minor version, generated from the DWARF of fixtures built with
// every supported toolchain (scripts/gen-go-offsets.sh -> go_offsets_table.cpp) and
// re-verified by a test.
//
// Wait-reason and status names are read from the binary's own runtime.waitReasonStrings and
// runtime.gStatusStrings arrays (located through DWARF): they are exactly what that binary's
// tracebacks print, whatever the release renumbered. Mapping the DW_TAG_constant
// runtime.waitReason* values through a hand-kept per-version list would be a second source of
// truth to keep in step; the constants serve instead as a test oracle.
//
// Offsets are for 64-bit targets (amd64; arm64 has the same layout): the table is built on
// amd64, and layout_from_dwarf reads whatever the binary says.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "symbolizer/buildinfo.h"  // go_minor_version
#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"
#include "symbolizer/machine_code.h"

namespace goscry {

// Every integer field of RuntimeLayout, with the DWARF path it is read from
// (struct type, member path). One list drives the DWARF reader, the generator of the
// checked-in table and the test that compares the two, so a field cannot be forgotten by
// one of them.
#define GOSCRY_RUNTIME_LAYOUT_FIELDS(X)                     \
  X(g_stack_lo, "runtime.g", "stack.lo")                    \
  X(g_stack_hi, "runtime.g", "stack.hi")                    \
  X(g_m, "runtime.g", "m")                                  \
  X(g_sched_sp, "runtime.g", "sched.sp")                    \
  X(g_sched_pc, "runtime.g", "sched.pc")                    \
  X(g_sched_bp, "runtime.g", "sched.bp")                    \
  X(g_sched_lr, "runtime.g", "sched.lr")                    \
  X(g_atomicstatus, "runtime.g", "atomicstatus")            \
  X(g_goid, "runtime.g", "goid")                            \
  X(g_waitsince, "runtime.g", "waitsince")                  \
  X(g_waitreason, "runtime.g", "waitreason")                \
  X(g_parent_goid, "runtime.g", "parentGoid")               \
  X(g_gopc, "runtime.g", "gopc")                            \
  X(g_startpc, "runtime.g", "startpc")                      \
  X(g_labels, "runtime.g", "labels")                        \
  X(g_lockedm, "runtime.g", "lockedm")                      \
  X(g_tracking_seq, "runtime.g", "trackingSeq")             \
  X(g_size, "runtime.g", "")                                \
  X(m_g0, "runtime.m", "g0")                                \
  X(m_procid, "runtime.m", "procid")                        \
  X(m_curg, "runtime.m", "curg")                            \
  X(m_preemptoff, "runtime.m", "preemptoff")                \
  X(md_pc_header, "runtime.moduledata", "pcHeader")         \
  X(md_funcnametab, "runtime.moduledata", "funcnametab")    \
  X(md_cutab, "runtime.moduledata", "cutab")                \
  X(md_filetab, "runtime.moduledata", "filetab")            \
  X(md_pctab, "runtime.moduledata", "pctab")                \
  X(md_pclntable, "runtime.moduledata", "pclntable")        \
  X(md_ftab, "runtime.moduledata", "ftab")                  \
  X(md_findfunctab, "runtime.moduledata", "findfunctab")    \
  X(md_minpc, "runtime.moduledata", "minpc")                \
  X(md_maxpc, "runtime.moduledata", "maxpc")                \
  X(md_text, "runtime.moduledata", "text")                  \
  X(md_etext, "runtime.moduledata", "etext")                \
  X(md_noptrdata, "runtime.moduledata", "noptrdata")        \
  X(md_bss, "runtime.moduledata", "bss")                    \
  X(md_ebss, "runtime.moduledata", "ebss")                  \
  X(md_next, "runtime.moduledata", "next")                  \
  X(work_pause_start, "runtime.workType", "pauseStart")     \
  X(work_t_end, "runtime.workType", "tEnd")                 \
  X(work_pause_ns, "runtime.workType", "pauseNS")           \
  X(work_cycles, "runtime.workType", "cycles")              \
  X(work_heap0, "runtime.workType", "heap0")                \
  X(gcc_heap_marked, "runtime.gcControllerState", "heapMarked") \
  X(gcc_heap_live, "runtime.gcControllerState", "heapLive") \
  X(gcc_gc_percent_heap_goal, "runtime.gcControllerState", "gcPercentHeapGoal") \
  X(gcc_sweep_dist_min_trigger, "runtime.gcControllerState", "sweepDistMinTrigger") \
  X(gcc_triggered, "runtime.gcControllerState", "triggered") \
  X(gcc_last_heap_goal, "runtime.gcControllerState", "lastHeapGoal") \
  X(gcc_gc_percent, "runtime.gcControllerState", "gcPercent") \
  X(gcc_memory_limit, "runtime.gcControllerState", "memoryLimit") \
  X(gcc_heap_free, "runtime.gcControllerState", "heapFree") \
  X(gcc_total_alloc, "runtime.gcControllerState", "totalAlloc") \
  X(gcc_total_free, "runtime.gcControllerState", "totalFree") \
  X(gcc_mapped_ready, "runtime.gcControllerState", "mappedReady") \
  X(gcc_assist_time, "runtime.gcControllerState", "assistTime") \
  X(gcc_dedicated_mark_time, "runtime.gcControllerState", "dedicatedMarkTime") \
  X(gcc_fractional_mark_time, "runtime.gcControllerState", "fractionalMarkTime") \
  X(gcc_idle_mark_time, "runtime.gcControllerState", "idleMarkTime") \
  X(bucket_allnext, "runtime.bucket", "allnext")            \
  X(bucket_typ, "runtime.bucket", "typ")                    \
  X(bucket_size, "runtime.bucket", "size")                  \
  X(bucket_nstk, "runtime.bucket", "nstk")                  \
  X(bucket_header, "runtime.bucket", "")                    \
  X(memrecord_active, "runtime.memRecord", "active")        \
  X(memrecord_future, "runtime.memRecord", "future")        \
  X(mrc_allocs, "runtime.memRecordCycle", "allocs")         \
  X(mrc_frees, "runtime.memRecordCycle", "frees")           \
  X(mrc_alloc_bytes, "runtime.memRecordCycle", "alloc_bytes") \
  X(mrc_free_bytes, "runtime.memRecordCycle", "free_bytes") \
  X(mrc_size, "runtime.memRecordCycle", "")                 \
  X(sched_goidgen, "runtime.schedt", "goidgen")             \
  X(sched_ngsys, "runtime.schedt", "ngsys")                 \
  X(sched_gfree_n, "runtime.schedt", "gFree.n")             \
  X(sched_gfree_stack_size, "runtime.schedt", "gFree.stack.size") \
  X(sched_gfree_nostack_size, "runtime.schedt", "gFree.noStack.size") \
  X(p_gfree_n, "runtime.p", "gFree.n")                      \
  X(p_gfree_size, "runtime.p", "gFree.size")

struct RuntimeLayout {
  // Byte offsets (g_size: sizeof(runtime.g), bucket_header and mrc_size likewise); -1 where
  // the field does not exist in that version (parentGoid before 1.21, memRecordCycle's
  // alloc_bytes and free_bytes from 1.27; the free-g counts are gFree.n up to 1.24 and the
  // gLists' own sizes from 1.25).
#define GOSCRY_DECLARE_FIELD(name, type, path) int name = -1;
  GOSCRY_RUNTIME_LAYOUT_FIELDS(GOSCRY_DECLARE_FIELD)
#undef GOSCRY_DECLARE_FIELD

  // index = waitReason value: [0]="", [2]="chan receive" (1.26) ... as Go prints them.
  std::vector<std::string> wait_reasons;
  // index = g.atomicstatus & ~_Gscan: [1]="runnable", [4]="waiting", [6]="dead" ...
  std::vector<std::string> g_statuses;
  std::string source;  // "DWARF" or "table (go1.23)"
};

// (name, value) of every integer field, in declaration order.
std::vector<std::pair<std::string_view, int>> layout_fields(const RuntimeLayout& l);

// Reads the layout from the binary's DWARF (libdw on the in-memory image, so an ElfFile made
// from bytes works too). Fails when there is no DWARF or a required struct is missing.
Result<RuntimeLayout> layout_from_dwarf(const ElfFile& elf);

// The checked-in table entry of a Go version: "go1.23.12", "go1.26.10-X:goroutineleakprofile"
// -> go1.26. Fails for versions outside the table and for "devel ..." builds. The table is
// amd64's; for arm64 it is adjusted where arm64's layout differs (runtime.work from go1.26:
// docs/go-runtime.md "arm64").
Result<RuntimeLayout> layout_from_table(std::string_view go_version, Isa isa = Isa::X86_64);

// DWARF first, else the table of the binary's architecture; the error names both causes.
Result<RuntimeLayout> runtime_layout(const ElfFile& elf, std::string_view go_version);

// One entry of the checked-in table (go_offsets_table.cpp).
struct GoOffsetsEntry {
  int minor;               // 23 for go1.23
  const char* built_with;  // the toolchain the entry was generated with, "go1.23.12"
  RuntimeLayout layout;
};
const std::vector<GoOffsetsEntry>& go_offsets_table();

}  // namespace goscry
