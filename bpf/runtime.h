/* Structs shared by bpf/runtime.bpf.c and the agent (agent/probes/bpf_loader.cpp). Plain C,
 * fixed-width types only, explicit padding: both compilers must agree on every offset. */
#ifndef GOSCRY_BPF_RUNTIME_H
#define GOSCRY_BPF_RUNTIME_H

#ifdef __bpf__
/* vmlinux.h already defines __u8 ... __u64. */
#else
#include <linux/types.h> /* __u8 ... __u64, as libbpf's headers use them */
#endif

/* How stop/startTheWorldWithSema pass their data (docs/go-runtime.md "Stop-the-world and GC"). */
enum goscry_stw_abi {
  /* 1.19-1.20: stopTheWorldWithSema(); reason = m.preemptoff ("" sweep termination,
   * "gcing" mark termination); startTheWorldWithSema(bool) int64 returns now in RAX. */
  GOSCRY_STW_PREEMPTOFF = 1,
  /* 1.21: stopTheWorldWithSema(reason) AL; startTheWorldWithSema() int64 returns now. */
  GOSCRY_STW_REASON_ARG = 2,
  /* 1.22+: stopTheWorldWithSema(reason) worldStop; startTheWorldWithSema(now, w worldStop):
   * RAX now, BL reason, RCX startedStopping; returns the now it used in RAX. */
  GOSCRY_STW_WORLDSTOP = 3,
};

/* stwReason values of Go 1.21+ (runtime/proc.go); 1.19-1.20 are mapped onto them. */
enum goscry_stw_reason {
  GOSCRY_STW_UNKNOWN = 0,
  GOSCRY_STW_GC_MARK_TERM = 1,
  GOSCRY_STW_GC_SWEEP_TERM = 2,
};

/* Which probes the agent attached for a target (settings.probes). */
enum goscry_probe_bits {
  GOSCRY_PROBE_CREATE = 1 << 0,
  GOSCRY_PROBE_EXIT = 1 << 1,
  GOSCRY_PROBE_STW = 1 << 2,
  GOSCRY_PROBE_GC_MARK_TERM = 1 << 3,
  GOSCRY_PROBE_GC_START = 1 << 4,
};

/* Why a GC cycle ran: gcStart's gcTrigger.kind + 1 (runtime/mgc.go, 1.19-1.27: heap 0,
 * time 1, cycle 2), 0 = not seen. runtime.GC and debug.FreeOSMemory both start a
 * GOSCRY_GC_TRIGGER_CYCLE; the agent tells them apart by the callers in caller_pcs. */
enum goscry_gc_trigger {
  GOSCRY_GC_TRIGGER_UNKNOWN = 0,
  GOSCRY_GC_TRIGGER_HEAP = 1,
  GOSCRY_GC_TRIGGER_TIME = 2,
  GOSCRY_GC_TRIGGER_CYCLE = 3,
};

/* Return addresses at gcStart: [0] into its caller (runtime.GC, mallocgc, forcegchelper),
 * then up the frame-pointer chain: [1] into the caller of runtime.GC, ... */
#define GOSCRY_GC_CALLER_PCS 4

/* settings.flags */
enum goscry_settings_flags {
  /* Emit one ring-buffer event per goroutine creation/exit (off by default: a busy
   * program creates millions; the per-site counters are the normal path). */
  GOSCRY_TRACE_GOROUTINES = 1 << 0,
  /* The attach window is closed: event_goid_max is the goid generator read after every
   * probe was attached, and the window map keeps every entry until the agent reads it
   * (while open, a thread's previous ended goroutine is dropped at its next end). */
  GOSCRY_WINDOW_CLOSED = 1 << 1,
};

#define GOSCRY_NO_OFFSET 0xffff

/* The register a creation probe reads the new g from, passed as the probe's BPF cookie:
 * RAX at a RET of newproc1, whichever register holds it at the cheaper probe after a CALL
 * of newproc1 (symbolizer/emulated_probes.h, same numbering as GpReg). R14 is Go's g.
 * arm64 objects read the cookie as the register's number instead (Rn: 0 = R0, the result
 * at a RET, as GOSCRY_REG_AX is on amd64; runtime.bpf.c register_value). */
enum goscry_reg {
  GOSCRY_REG_AX = 0,
  GOSCRY_REG_BX,
  GOSCRY_REG_CX,
  GOSCRY_REG_DX,
  GOSCRY_REG_SI,
  GOSCRY_REG_DI,
  GOSCRY_REG_R8,
  GOSCRY_REG_R9,
  GOSCRY_REG_R10,
  GOSCRY_REG_R11,
  GOSCRY_REG_R12,
  GOSCRY_REG_R13,
  GOSCRY_REG_R15,
};

/* How many 8-byte words of a g the per-goroutine probes read at once (the block from
 * goid to startpc: 168 bytes in 1.19-1.27). One read of the block costs less than three
 * reads of a word each; the agent refuses a layout whose block is longer. */
#define GOSCRY_G_BLOCK_WORDS 32

/* Key of probe_regs (kernels without BPF cookies): the probed instruction's address in
 * the target (PT_REGS_IP in the handler). */
struct goscry_probe_key {
  __u32 tgid;
  __u32 pad;
  __u64 ip;
};

/* Per-target settings, keyed by tgid, filled by the agent before it attaches: the same
 * .bpf.o serves every Go version. Offsets are bytes into runtime.g / runtime.m. */
struct goscry_settings {
  __u16 g_goid;
  __u16 g_gopc;
  __u16 g_startpc;
  __u16 g_parent_goid; /* GOSCRY_NO_OFFSET before Go 1.21 */
  __u16 g_m;
  __u16 m_preemptoff; /* a Go string {ptr, len} */
  __u16 go_minor;     /* 19 for go1.19.x: informative */
  __u8 stw_abi;       /* enum goscry_stw_abi */
  __u8 pad0;
  __u32 probes; /* enum goscry_probe_bits */
  __u32 flags;  /* enum goscry_settings_flags */
  /* The address of runtime.work in the target (0 = unknown; work_cycles below). Go <= 1.21
   * only: the offsets of work.pauseStart and work.tEnd, the clock the runtime's GC pause
   * figures use; without them the pause is timed by the probes (a few us short per pause). */
  __u16 work_pause_start;
  __u16 work_t_end;
  /* The block of a g the per-goroutine probes read: from g_block_off, g_block_words
   * words (<= GOSCRY_G_BLOCK_WORDS), holding goid, gopc and startpc (all 8-aligned). */
  __u16 g_block_off;
  __u8 g_block_words;
  __u8 pad1;
  __u64 work_addr;
  /* Goroutines with a goid up to this one are recorded in the window map when they are
   * created and when they end (struct goscry_window_entry); the others only count. The
   * agent starts with ~0 (every goroutine while it attaches) and lowers it once, with
   * GOSCRY_WINDOW_CLOSED, to runtime.sched.goidgen read after the probes: no goroutine
   * alive before them has a larger goid (agent/probes/goroutine_tracker.h has why that
   * keeps the counts exact). */
  __u64 event_goid_max;
  /* Offset of work.cycles (u32) in runtime.work, 0 = unknown: the runtime's count of GC
   * cycles, read when a GC pause ends (every release 1.19-1.27: gcStart adds one inside the
   * sweep-termination pause, so at the end of either pause of cycle N it is N, which is
   * memstats.numgc after that cycle's mark termination, NumGC and gctrace's "gc N"). */
  __u16 work_cycles;
  __u16 pad2[3];
  /* Why a GC cycle ran and what it cost (docs/go-runtime.md "Why a GC cycle ran"):
   * m.curg (the goroutine that called gcStart, seen from g0 at the sweep-termination stop),
   * work.heap0 (heap live at the cycle's start), and the
   * fields of runtime.gcControllerState read when the mark-termination pause ends;
   * GOSCRY_NO_OFFSET = unknown, gc_controller_addr 0 = unknown. */
  __u16 m_curg;
  __u16 work_heap0;
  __u16 gcc_heap_marked;
  __u16 gcc_last_heap_goal;
  __u16 gcc_gc_percent;
  __u16 gcc_memory_limit;
  __u16 gcc_assist_time;
  __u16 gcc_dedicated_mark_time;
  __u16 gcc_fractional_mark_time;
  __u16 gcc_idle_mark_time;
  __u16 pad3[2];
  __u64 gc_controller_addr;
};

/* What gcStart was asked, by which goroutine (the gc_triggers map). */
struct goscry_gc_trigger_key {
  __u32 tgid;
  __u32 pad;
  __u64 g;
};

struct goscry_gc_trigger_seen {
  __u32 trigger;    /* enum goscry_gc_trigger */
  __u32 trigger_n;  /* gcTrigger.n: for a cycle trigger, the cycle asked for */
  __u32 cycles;     /* work.cycles at gcStart, to match it with its sweep termination */
  __u32 has_cycles; /* 1 when `cycles` was read */
  __u64 caller_pcs[GOSCRY_GC_CALLER_PCS];
};

/* gc_info.flags */
enum goscry_gc_info_flags {
  GOSCRY_GC_TRIGGER_SEEN = 1 << 0, /* trigger, trigger_n, caller_pcs are set */
  GOSCRY_GC_HEAP_READ = 1 << 1,    /* heap0, heap_marked, last_heap_goal were read */
  GOSCRY_GC_PACER_READ = 1 << 2,   /* gc_percent, memory_limit were read */
  GOSCRY_GC_CPU_READ = 1 << 3,     /* the four mark CPU times were read */
};

/* A GC cycle's why and cost, in its STW events: the trigger in the sweep-termination
 * event, the rest in the event of the mark termination that completed it. */
struct goscry_gc_info {
  __u32 flags; /* enum goscry_gc_info_flags */
  __u32 trigger;
  __u32 trigger_n;
  __s32 gc_percent; /* GOGC in force (gcController.gcPercent), -1 = off */
  __u64 caller_pcs[GOSCRY_GC_CALLER_PCS];
  __u64 heap0;          /* work.heap0: heap live when the cycle started */
  __u64 heap_marked;    /* gcController.heapMarked: heap marked live by the cycle */
  __u64 last_heap_goal; /* gcController.lastHeapGoal: the goal the cycle ran against */
  __s64 memory_limit;   /* GOMEMLIMIT in force (gcController.memoryLimit) */
  __s64 assist_ns;      /* gcController.assistTime ... of the cycle */
  __s64 dedicated_ns;
  __s64 fractional_ns;
  __s64 idle_ns;
};

/* Key of the per-site counters: a creation site is the PC of the `go` statement (g.gopc).
 * `created` counts every goroutine created since attach; `exited` the ends of those among
 * them (a goroutine alive before the probes ends in the window map, uncounted). */
struct goscry_site_key {
  __u32 tgid;
  __u32 pad;
  __u64 gopc;
};

struct goscry_site_counts {
  __u64 created;
  __u64 exited;
  /* g.startpc of the last goroutine created here: a `go` statement starts one function,
   * and whether that function is the runtime's decides if the site's goroutines count in
   * runtime.NumGoroutine (runtime.isSystemGoroutine). */
  __u64 startpc;
};

/* Key of the window map: a goroutine of a target, by goid (never reused in a process). */
struct goscry_window_key {
  __u32 tgid;
  __u32 pad;
  __u64 goid;
};

/* What the probes saw of a goroutine whose goid is <= settings.event_goid_max. */
enum goscry_window_flags {
  GOSCRY_WIN_CREATED = 1 << 0,      /* seen created (after every probe went in) */
  GOSCRY_WIN_COUNTED = 1 << 1,      /* ... and counted in its site's `created` */
  GOSCRY_WIN_EXITED = 1 << 2,       /* seen ending */
  GOSCRY_WIN_EXIT_COUNTED = 1 << 3, /* ... and counted in its site's `exited` */
};

struct goscry_window_entry {
  __u64 gopc;
  __u64 startpc;
  __u64 parent_goid; /* 1.21+, at creation */
  __u32 flags;       /* enum goscry_window_flags */
  __u32 pad;
};

/* Per-CPU counters of drops and failed reads; the agent sums the CPUs. */
enum goscry_counter {
  GOSCRY_CNT_RINGBUF_FULL = 0,    /* bpf_ringbuf_reserve failed: an event is lost */
  GOSCRY_CNT_READ_FAILED,         /* bpf_probe_read_user failed: an event is lost */
  GOSCRY_CNT_SETTINGS_MISSING,    /* a probe fired for a tgid without settings */
  GOSCRY_CNT_SITE_MAP_FULL,       /* sites map full: a creation is not counted */
  GOSCRY_CNT_EXIT_UNKNOWN_SITE,   /* an exit counted at a site that has no counters: its
                                   * creation was not counted either (sites map full) */
  GOSCRY_CNT_STW_UNMATCHED,       /* start-the-world without a recorded stop */
  GOSCRY_CNT_STW_MAP_FULL,        /* in-flight STW map full: a pause is lost */
  GOSCRY_CNT_PROBE_REG_MISSING,   /* < 5.15: a creation probe whose address has no
                                   * probe_regs entry: a creation is not counted */
  GOSCRY_CNT_WINDOW_FULL,         /* window or window_exiting map full: a goroutine of
                                   * the attach window is not recorded, so the live
                                   * count may be off (flagged as lost) */
  GOSCRY_CNT_MAX,
};

enum goscry_event_kind {
  GOSCRY_EV_STW = 1, /* one stop-the-world pause, reported when the world starts */
  /* A goroutine created / ended, with goid, gopc, startpc (and parent goid at creation,
   * 1.21+): sent for every goroutine when a target is traced (GOSCRY_TRACE_GOROUTINES);
   * the agent also turns the window map's entries into them. flags: enum goscry_go_flags. */
  GOSCRY_EV_GO_CREATE = 2,
  GOSCRY_EV_GO_EXIT = 3,
};

/* goroutine event flags */
enum goscry_go_flags {
  /* The creation / exit this event reports is also counted in the site's counters (an
   * exit event without it replaces the count). */
  GOSCRY_GO_COUNTED = 1 << 0,
};

/* stw event flags */
enum goscry_stw_flags {
  /* gcMarkTermination ran during this pause: a GC cycle completed (a mark-termination STW
   * can also end in a restart of the mark phase, which completes nothing). */
  GOSCRY_STW_CYCLE_DONE = 1 << 0,
};

#define GOSCRY_PREEMPTOFF_LEN 24

/* Ring-buffer record. Times are CLOCK_MONOTONIC ns (the clock of Go's nanotime). */
struct goscry_event {
  __u32 kind; /* enum goscry_event_kind */
  __u32 tgid;
  /* STW: the pause as the runtime measures it: [start_ns, end_ns] */
  __u64 start_ns;
  __u64 end_ns;
  __u32 reason; /* enum goscry_stw_reason, or any Go 1.21+ stwReason */
  __u32 flags;  /* enum goscry_stw_flags / enum goscry_go_flags */
  /* 1.19-1.20 only: m.preemptoff at the stop, which names the reason */
  char preemptoff[GOSCRY_PREEMPTOFF_LEN];
  /* goroutine events: */
  __u64 goid;
  __u64 parent_goid;
  __u64 gopc;
  __u64 startpc;
  /* STW of the GC: work.cycles when the world started (settings.work_cycles), 0 = unknown */
  __u32 gc_cycle;
  __u32 pad;
  struct goscry_gc_info gc;
};

/* The state of a stopped world between its stop and its start (one per tgid: STW is
 * process-wide and serialised by worldsema). */
struct goscry_stw_inflight {
  __u64 start_ns;
  /* <= 1.21 mark termination: the runtime's clock stops before the world starts (at the
   * `now` right after gcControllerCommit); 0 = use startTheWorldWithSema's result. */
  __u64 end_ns;
  __u32 reason;
  __u32 flags;
  char preemptoff[GOSCRY_PREEMPTOFF_LEN];
  /* sweep termination: gcStart's trigger, from gc_triggers (gc.flags GOSCRY_GC_TRIGGER_SEEN) */
  struct goscry_gc_info gc;
};

#endif
