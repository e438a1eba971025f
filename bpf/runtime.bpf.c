// SPDX-License-Identifier: GPL-2.0
/* runtime.bpf.c — goroutine lifecycle and stop-the-world pauses of Go programs, seen from
 * uprobes on the Go runtime (docs/go-runtime.md has the registers and offsets per release).
 *
 * - creation: a uprobe after each CALL of runtime.newproc1 where the new g sits in a
 *   register, or on every RET of newproc1 (never a uretprobe: Go moves stacks and a
 *   rewritten return address kills it). The g has its goid, gopc (the `go` statement) and
 *   startpc already set. Counted per (tgid, gopc).
 * - exit: runtime.gdestroy (1.22+) / runtime.goexit0 (<= 1.21) at the Jcc of its stack
 *   check (the kernel emulates a Jcc; it single-steps the CMP of the entry), gp in RAX,
 *   goid, gopc and startpc still intact: the site is read from the dying g itself.
 * - stop-the-world: stopTheWorldWithSema / startTheWorldWithSema / gcMarkTermination (and
 *   gcControllerCommit on <= 1.21); each pause goes to user space as one ring-buffer
 *   event, measured as the runtime measures it: 1.22+ from startTheWorldWithSema's
 *   worldStop argument and result, <= 1.21 from runtime.work.{pauseStart,tEnd}.
 * - why a GC cycle ran: runtime.gcStart at the Jcc of its stack check (once per call, the
 *   gcTrigger still in RAX/RBX/RCX) records the trigger and the callers per goroutine; the
 *   sweep-termination stop, on g0, takes the entry of m.curg, the goroutine that won the
 *   cycle. When the mark termination's world starts, the heap figures, GOGC, GOMEMLIMIT and
 *   the cycle's mark CPU are read from runtime.work and runtime.gcController: the next
 *   gcStart resets them, and only that moment is sure to be before it.
 *
 * Hot paths (creation, exit) are one read of the g and one lookup of its site's counters
 * (plus the settings): no per-goroutine map entry, except for the goroutines of the attach
 * window (goid <= settings.event_goid_max), which go into the bounded `window` map that
 * the agent reads when it is ready, however late (docs/architecture.md decision 3). The
 * ring buffer carries the rare STW events, and every goroutine only when a target asks
 * for a trace. The same object
 * serves every Go version: what differs (offsets, register conventions) comes from the
 * settings map the agent fills per tgid. Go's ABIInternal is used as is: arguments and
 * results in RAX, RBX, RCX, ... (arm64: R0, R1, R2, ...); the current g in R14 (arm64:
 * R28), named through go_abi.h. The comments below say amd64's names. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "runtime.h"
#include "go_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Key: tgid. One entry per traced Go process; 1024 covers `goscry agent --all` on a big
 * node. Full: the agent's add_target fails with E2BIG and says so (nothing is dropped in
 * BPF). A probe that fires for a tgid without settings counts GOSCRY_CNT_SETTINGS_MISSING. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct goscry_settings);
} settings SEC(".maps");

/* Key: (tgid, gopc) -> {created, exited}. A program has as many sites as `go` statements
 * that run (hundreds to a few thousand), times the targets; 65536 leaves room for many
 * targets. Full: a creation at a new site is not counted (GOSCRY_CNT_SITE_MAP_FULL) and
 * exit later is not counted either. The agent deletes a target's keys when it goes. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct goscry_site_key);
  __type(value, struct goscry_site_counts);
} sites SEC(".maps");

/* Key: tgid -> the stopped world between its stop and its start. STW is process-wide and
 * serialised by worldsema, so one entry per target; same size as `settings`. Full: the
 * pause is lost (GOSCRY_CNT_STW_MAP_FULL). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct goscry_stw_inflight);
} stw_inflight SEC(".maps");

/* Key: (tgid, probe address) -> the register of a creation probe (enum goscry_reg), for
 * kernels without bpf_get_attach_cookie (before 5.15: docs/kernels.md). The kernel sets
 * regs->ip back to the breakpoint's address before it runs the handlers, so the address
 * tells the probe sites apart, as libbpf's USDT support does. The agent fills it per target
 * and probe site (a few per target) and deletes a target's keys when it goes; on newer
 * kernels it stays empty. Full: the agent's attach fails with E2BIG. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, struct goscry_probe_key);
  __type(value, __u32);
} probe_regs SEC(".maps");

/* Key: (tgid, goid) of a goroutine with goid <= settings.event_goid_max -> what the probes
 * saw of it (docs/architecture.md decision 3). While the window is open (the probes go in,
 * the agent reads the goid generator) it holds the goroutines born since that are still
 * alive and per thread the last goroutine whose end it ran (window_exiting): each end drops
 * the thread's previous one, surely dead by then. Closed, it holds those that were alive at
 * the close (until they end and the agent has read the end), the ends of goroutines born
 * before the probes, and the few born later from goids the Ps had cached (<= 16 per P).
 * So its size follows the target's goroutines at attach, never the time the agent takes:
 * 65,536 entries (~6 MiB preallocated, less than the 8 MiB ring buffer that carried the
 * window before) cover a target with ~60,000 goroutines when it is attached: the agent's
 * shared loader. A verb's own loader sets 262,144 or more at load time
 * (TargetWatch::window_entries). Preallocated:
 * a run-time allocation in a uprobe is refused on PREEMPT_RT kernels and warns before 6.1.
 * Full: the goroutine is not recorded and GOSCRY_CNT_WINDOW_FULL counts it, a lost event
 * that flags the target's figures. The agent deletes a target's keys when it goes. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct goscry_window_key);
  __type(value, struct goscry_window_entry);
} window SEC(".maps");

/* Key: a thread (pid_tgid) -> the goid of the last goroutine whose end it ran while the
 * window was open: that one keeps its window entry, since the snapshot of allgs may yet
 * read its g alive (the exit probe fires before gdestroy marks it dead); the thread's next
 * end drops it. One per thread of the targets: 16,384 covers Go's default
 * limit of 10,000 threads. Full: counted as GOSCRY_CNT_WINDOW_FULL (the entries it would
 * have dropped stay). The agent deletes a target's keys when it goes. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, __u64);
} window_exiting SEC(".maps");

/* Key: (tgid, startpc) -> how many goroutines born before the probes (never seen born)
 * ended while the window was open and had their entry dropped: they ended before the
 * snapshot of allgs, and the agent adds them to the ends since attach (a startpc tells it
 * whether they were system goroutines). A few start functions per target; 8192 leaves
 * room for many targets. Full: GOSCRY_CNT_WINDOW_FULL. The agent deletes a target's keys
 * when it goes. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, struct goscry_site_key);
  __type(value, __u64);
} window_unseen_ends SEC(".maps");

/* Rare events: one per STW pause (a few per GC cycle); every goroutine when a target is
 * traced (tests). The goroutines of the attach window no longer come this way (`window`):
 * a ring buffer holds them only if user space drains it in time, which a loaded machine
 * does not (23,564 events lost once in CI). Size kept from when it did carry them, for
 * traced targets: 8 MiB holds ~37,000 events (216 bytes + 8 of header); the agent maps the
 * data pages twice, so its RSS carries 2 x the size. Full: the event is lost
 * (GOSCRY_CNT_RINGBUF_FULL). */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* Key: (tgid, g) of a goroutine that called runtime.gcStart -> its trigger and callers,
 * taken (and deleted) by the sweep-termination stop of the cycle that goroutine starts.
 * Calls that start no cycle (another goroutine won, or the trigger no longer held) leave
 * their entry behind: LRU, so they go first; 4096 goroutines racing into gcStart between
 * two cycles of one target do not happen (a heap trigger calls gcStart only while no cycle
 * runs). An evicted or missing entry leaves the cycle's trigger unknown, never wrong: the
 * entry carries work.cycles, which must still be the same at the stop. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct goscry_gc_trigger_key);
  __type(value, struct goscry_gc_trigger_seen);
} gc_triggers SEC(".maps");

/* Key: enum goscry_counter -> per-CPU count of drops and failed reads. Fixed size (one
 * slot per counter); never full. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, GOSCRY_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* Never filled, never called: each uprobe program below holds a tail call into it, which
 * the verifier must keep (it cannot know the branch is never taken: no uprobe fires in the
 * idle task, tgid 0). A program with a tail call gets no "private stack": from Linux 6.14 a
 * kprobe-type program whose frame reaches 64 bytes runs it on one per-CPU stack instead of
 * the thread's, which assumes the program never runs twice at once on a CPU. Uprobe
 * programs run preemptible (only migration is disabled, and 7.x kernels preempt), so two
 * threads of a target probed on one CPU wrote the same frame: on Debian's 7.2, events
 * carrying one goroutine's goid and another's gopc (docs/kernels.md). An untaken branch
 * costs nothing measurable; a taken (empty) tail call cost ~20 ns per run. */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} no_programs SEC(".maps");

static __always_inline void keep_frame_on_thread_stack(struct pt_regs *ctx, __u32 tgid) {
  if (tgid == 0) bpf_tail_call(ctx, &no_programs, 0);
}

static __always_inline void count(__u32 which) {
  __u64 *v = bpf_map_lookup_elem(&counters, &which);
  if (v) __sync_fetch_and_add(v, 1);
}

static __always_inline __u32 current_tgid(void) { return bpf_get_current_pid_tgid() >> 32; }

static __always_inline struct goscry_settings *settings_for(__u32 tgid) {
  struct goscry_settings *s = bpf_map_lookup_elem(&settings, &tgid);
  if (!s) count(GOSCRY_CNT_SETTINGS_MISSING);
  return s;
}

/* Reads a word of the target; a failure is counted, never silent. */
static __always_inline int read_u64(__u64 addr, __u64 *out) {
  if (bpf_probe_read_user(out, sizeof(*out), (const void *)addr) != 0) {
    count(GOSCRY_CNT_READ_FAILED);
    return -1;
  }
  return 0;
}

/* The counters of a site, created on first use. */
static __always_inline struct goscry_site_counts *site_counts(__u32 tgid, __u64 gopc) {
  struct goscry_site_key key = {.tgid = tgid, .gopc = gopc};
  struct goscry_site_counts *c = bpf_map_lookup_elem(&sites, &key);
  if (c) return c;
  struct goscry_site_counts zero = {};
  /* NOEXIST: another CPU may have inserted the site meanwhile; then we use its entry.
   * Only a full map leaves no entry behind. */
  bpf_map_update_elem(&sites, &key, &zero, BPF_NOEXIST);
  c = bpf_map_lookup_elem(&sites, &key);
  if (!c) count(GOSCRY_CNT_SITE_MAP_FULL);
  return c;
}

/* What the per-goroutine probes need of a g. */
struct g_fields {
  __u64 goid;
  __u64 gopc;
  __u64 startpc;
};

/* The word of the block at byte offset `off` of the g (the agent checked it is inside). */
#define BLOCK_WORD(block, s, off) ((block)[(((off) - (s)->g_block_off) >> 3) & (GOSCRY_G_BLOCK_WORDS - 1)])

/* goid, gopc and startpc of g, with one read of the block of the g that holds them. The
 * block is zeroed first: older verifiers (6.1's, not 6.12's: docs/kernels.md) let a helper
 * write a variable number of bytes only into initialised stack ("invalid indirect read
 * from stack"); the 32 stores cost a few nanoseconds once per goroutine. */
static __always_inline int read_g(struct goscry_settings *s, __u64 g, struct g_fields *f) {
  __u64 block[GOSCRY_G_BLOCK_WORDS];
  __builtin_memset(block, 0, sizeof(block));
  __u32 size = (__u32)s->g_block_words * 8;
  if (size > sizeof(block)) size = sizeof(block);
  if (bpf_probe_read_user(block, size, (const void *)(g + s->g_block_off)) != 0) {
    count(GOSCRY_CNT_READ_FAILED);
    return -1;
  }
  f->goid = BLOCK_WORD(block, s, s->g_goid);
  f->gopc = BLOCK_WORD(block, s, s->g_gopc);
  f->startpc = BLOCK_WORD(block, s, s->g_startpc);
  return 0;
}

static __always_inline void emit_goroutine(__u32 kind, __u32 tgid, __u32 flags,
                                           const struct g_fields *f, __u64 parent) {
  struct goscry_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count(GOSCRY_CNT_RINGBUF_FULL);
    return;
  }
  __builtin_memset(e, 0, sizeof(*e));
  e->kind = kind;
  e->tgid = tgid;
  e->flags = flags;
  e->start_ns = bpf_ktime_get_ns();
  e->goid = f->goid;
  e->parent_goid = parent;
  e->gopc = f->gopc;
  e->startpc = f->startpc;
  bpf_ringbuf_submit(e, 0);
}

/* A goroutine of the attach window created: recorded until the agent reads it. */
static __always_inline void window_created(__u32 tgid, const struct g_fields *f, __u64 parent,
                                           int counted) {
  struct goscry_window_key key = {.tgid = tgid, .goid = f->goid};
  struct goscry_window_entry e = {.gopc = f->gopc, .startpc = f->startpc, .parent_goid = parent};
  e.flags = GOSCRY_WIN_CREATED | (counted ? GOSCRY_WIN_COUNTED : 0);
  if (bpf_map_update_elem(&window, &key, &e, BPF_ANY) != 0) count(GOSCRY_CNT_WINDOW_FULL);
}

/* An end of a goroutine born before the probes whose window entry goes unread. */
static __always_inline void count_unseen_end(__u32 tgid, __u64 startpc) {
  struct goscry_site_key key = {.tgid = tgid, .gopc = startpc};
  __u64 *n = bpf_map_lookup_elem(&window_unseen_ends, &key);
  if (!n) {
    __u64 zero = 0;
    bpf_map_update_elem(&window_unseen_ends, &key, &zero, BPF_NOEXIST);
    n = bpf_map_lookup_elem(&window_unseen_ends, &key);
  }
  if (n)
    __sync_fetch_and_add(n, 1);
  else
    count(GOSCRY_CNT_WINDOW_FULL);
}

/* While the window is open: the entry of the goroutine whose end this thread ran before
 * goes (gdestroy marked it dead before the thread could run another end, so the snapshot
 * of allgs, read after the window closes, cannot see it alive), and this one's stays. A
 * goroutine seen born had its end counted at its site; one born before the probes is
 * counted by start function (window_unseen_ends). So the open window holds the live
 * goroutines born in it and one end per thread, however long it stays open. */
static __always_inline void drop_previous_end(__u32 tgid, __u64 goid) {
  __u64 thread = bpf_get_current_pid_tgid();
  __u64 *prev = bpf_map_lookup_elem(&window_exiting, &thread);
  if (!prev) {
    if (bpf_map_update_elem(&window_exiting, &thread, &goid, BPF_NOEXIST) != 0)
      count(GOSCRY_CNT_WINDOW_FULL);
    return;
  }
  struct goscry_window_key old = {.tgid = tgid, .goid = *prev};
  *prev = goid;
  struct goscry_window_entry *e = bpf_map_lookup_elem(&window, &old);
  if (e && !(e->flags & GOSCRY_WIN_CREATED)) count_unseen_end(tgid, e->startpc);
  bpf_map_delete_elem(&window, &old);
}

/* A goroutine of the attach window ended. Seen born: its end counts at its site like any
 * other (the entry says so). Not seen born (alive before the probes): recorded for the
 * agent, which takes it off its snapshot of allgs; its site created none of it. */
static __always_inline void window_exited(struct goscry_settings *s, __u32 tgid,
                                          const struct g_fields *f) {
  struct goscry_window_key key = {.tgid = tgid, .goid = f->goid};
  struct goscry_window_entry *e = bpf_map_lookup_elem(&window, &key);
  if (!e) {
    struct goscry_window_entry ended = {.gopc = f->gopc, .startpc = f->startpc};
    ended.flags = GOSCRY_WIN_EXITED;
    if (bpf_map_update_elem(&window, &key, &ended, BPF_NOEXIST) != 0)
      count(GOSCRY_CNT_WINDOW_FULL);
    else if (!(s->flags & GOSCRY_WINDOW_CLOSED))
      drop_previous_end(tgid, f->goid);
    return;
  }
  __u32 flags = e->flags | GOSCRY_WIN_EXITED;
  if (flags & GOSCRY_WIN_COUNTED) {
    struct goscry_site_key site = {.tgid = tgid, .gopc = f->gopc};
    struct goscry_site_counts *c = bpf_map_lookup_elem(&sites, &site);
    if (c) {
      __sync_fetch_and_add(&c->exited, 1);
      flags |= GOSCRY_WIN_EXIT_COUNTED;
    } else {
      count(GOSCRY_CNT_EXIT_UNKNOWN_SITE);
    }
  }
  /* Only this goroutine's own end writes its entry after its creation did. */
  e->flags = flags;
  if (!(s->flags & GOSCRY_WINDOW_CLOSED)) drop_previous_end(tgid, f->goid);
}

/* The value of a register named by enum goscry_reg. Each field is read on its own
 * (the empty asm): clang would otherwise turn the switch into one load at a computed
 * offset into ctx, which the verifier refuses. */
#define GOSCRY_REG(field)                  \
  ({                                       \
    __u64 v_ = ctx->field;                 \
    asm volatile("" : "+r"(v_));           \
    v_;                                    \
  })
/* The probe's register: its BPF cookie (5.15+), else the agent's entry for this probe's
 * address. The test is a CO-RE relocation, a constant at load time, so the verifier drops
 * the branch the kernel cannot run (an unknown helper id is refused only where it is
 * reachable). No entry: counted, and RAX (as at a RET of newproc1) would be a guess, so
 * the caller gives up. */
static __always_inline int probe_register(struct pt_regs *ctx, __u32 tgid, __u64 *reg) {
  if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_attach_cookie)) {
    *reg = bpf_get_attach_cookie(ctx);
    return 0;
  }
  struct goscry_probe_key key = {.tgid = tgid, .ip = PT_REGS_IP(ctx)};
  __u32 *r = bpf_map_lookup_elem(&probe_regs, &key);
  if (!r) {
    count(GOSCRY_CNT_PROBE_REG_MISSING);
    return -1;
  }
  *reg = *r;
  return 0;
}

#if defined(__TARGET_ARCH_arm64)
/* arm64: the cookie is the register's number, Rn = regs[n] (R0-R26: what Go allocates). */
#define GOSCRY_XREG(n) \
  case n: return GOSCRY_REG(regs[n])
static __always_inline __u64 register_value(struct pt_regs *pt, __u64 reg) {
  const struct user_pt_regs *ctx = GOSCRY_UREGS(pt);
  switch (reg) {
    GOSCRY_XREG(1); GOSCRY_XREG(2); GOSCRY_XREG(3); GOSCRY_XREG(4); GOSCRY_XREG(5);
    GOSCRY_XREG(6); GOSCRY_XREG(7); GOSCRY_XREG(8); GOSCRY_XREG(9); GOSCRY_XREG(10);
    GOSCRY_XREG(11); GOSCRY_XREG(12); GOSCRY_XREG(13); GOSCRY_XREG(14); GOSCRY_XREG(15);
    GOSCRY_XREG(16); GOSCRY_XREG(17); GOSCRY_XREG(19); GOSCRY_XREG(20); GOSCRY_XREG(21);
    GOSCRY_XREG(22); GOSCRY_XREG(23); GOSCRY_XREG(24); GOSCRY_XREG(25); GOSCRY_XREG(26);
    default: return GOSCRY_REG(regs[0]);
  }
}
#else
static __always_inline __u64 register_value(struct pt_regs *ctx, __u64 reg) {
  switch (reg) {
    case GOSCRY_REG_BX: return GOSCRY_REG(bx);
    case GOSCRY_REG_CX: return GOSCRY_REG(cx);
    case GOSCRY_REG_DX: return GOSCRY_REG(dx);
    case GOSCRY_REG_SI: return GOSCRY_REG(si);
    case GOSCRY_REG_DI: return GOSCRY_REG(di);
    case GOSCRY_REG_R8: return GOSCRY_REG(r8);
    case GOSCRY_REG_R9: return GOSCRY_REG(r9);
    case GOSCRY_REG_R10: return GOSCRY_REG(r10);
    case GOSCRY_REG_R11: return GOSCRY_REG(r11);
    case GOSCRY_REG_R12: return GOSCRY_REG(r12);
    case GOSCRY_REG_R13: return GOSCRY_REG(r13);
    case GOSCRY_REG_R15: return GOSCRY_REG(r15);
    default: return GOSCRY_REG(ax);
  }
}
#endif

/* A new goroutine, just made by runtime.newproc1 (all of 1.19-1.27): either at a RET of
 * newproc1 (RAX = newg, cookie GOSCRY_REG_AX), or — cheaper, see
 * symbolizer/emulated_probes.h — after each CALL of newproc1, at the first instruction the
 * kernel emulates while a register (the cookie) still holds newg, e.g. newproc.func1's
 * CALL runqput(pp, newg, true) with newg in RBX. Either way once per goroutine: newproc1
 * and its callers run on g0 (no morestack re-entry). */
SEC("uprobe")
int goscry_newproc1_ret(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  struct goscry_settings *s = settings_for(tgid);
  if (!s) return 0;
  __u64 reg;
  if (probe_register(ctx, tgid, &reg)) return 0;
  __u64 g = register_value(ctx, reg);
  struct g_fields f;
  if (read_g(s, g, &f)) return 0;
  struct goscry_site_counts *c = site_counts(tgid, f.gopc);
  if (c) {
    __sync_fetch_and_add(&c->created, 1);
    c->startpc = f.startpc;
  }
  const int in_window = f.goid <= s->event_goid_max;
  if (in_window || (s->flags & GOSCRY_TRACE_GOROUTINES)) {
    __u64 parent = 0;
    if (s->g_parent_goid != GOSCRY_NO_OFFSET) read_u64(g + s->g_parent_goid, &parent);
    if (in_window) window_created(tgid, &f, parent, c != 0);
    if (s->flags & GOSCRY_TRACE_GOROUTINES)
      emit_goroutine(GOSCRY_EV_GO_CREATE, tgid, c ? GOSCRY_GO_COUNTED : 0, &f, parent);
  }
  return 0;
}

/* runtime.gdestroy (1.22+) or runtime.goexit0 (<= 1.21), at the entry's registers:
 * RAX = gp, whose goid, gopc and startpc are still intact. Counted on its site, or for a
 * goid <= event_goid_max first looked up in the window map, which tells a goroutine
 * created since attach from one of the snapshot of allgs (agent/probes/goroutine_tracker.h). */
SEC("uprobe")
int goscry_goroutine_exit(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  struct goscry_settings *s = settings_for(tgid);
  if (!s) return 0;
  struct g_fields f;
  if (read_g(s, GO_ARG0(ctx), &f)) return 0;
  if (f.goid <= s->event_goid_max) {
    window_exited(s, tgid, &f);
    if (s->flags & GOSCRY_TRACE_GOROUTINES) emit_goroutine(GOSCRY_EV_GO_EXIT, tgid, 0, &f, 0);
    return 0;
  }
  struct goscry_site_key key = {.tgid = tgid, .gopc = f.gopc};
  struct goscry_site_counts *c = bpf_map_lookup_elem(&sites, &key);
  if (c)
    __sync_fetch_and_add(&c->exited, 1);
  else
    count(GOSCRY_CNT_EXIT_UNKNOWN_SITE);
  if (s->flags & GOSCRY_TRACE_GOROUTINES)
    emit_goroutine(GOSCRY_EV_GO_EXIT, tgid, c ? GOSCRY_GO_COUNTED : 0, &f, 0);
  return 0;
}

/* runtime.work.cycles, the runtime's count of GC cycles started; -1 when unknown. */
static __always_inline int read_work_cycles(struct goscry_settings *s, __u32 *n) {
  if (!s->work_addr || !s->work_cycles) return -1;
  if (bpf_probe_read_user(n, sizeof(*n), (const void *)(s->work_addr + s->work_cycles)) != 0) {
    count(GOSCRY_CNT_READ_FAILED);
    return -1;
  }
  return 0;
}

/* runtime.gcStart(trigger gcTrigger), at the Jcc of its stack check: the registers are the
 * entry's (RAX kind, RCX n) and the frame is not pushed yet, so [RSP] returns into the
 * caller (runtime.GC, mallocgc, forcegchelper) and RBP is that caller's frame, whose
 * return addresses lead to the function that called runtime.GC. Runs on the goroutine
 * (R14), which is how the sweep-termination stop finds it. */
SEC("uprobe")
int goscry_gc_start(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  struct goscry_settings *s = settings_for(tgid);
  if (!s) return 0;
  struct goscry_gc_trigger_seen t = {};
  t.trigger = (__u32)GO_ARG0(ctx) + 1;
  t.trigger_n = (__u32)GO_ARG2(ctx);
  if (read_work_cycles(s, &t.cycles) == 0) t.has_cycles = 1;
  __u64 fp = GO_FP(ctx);
  if (go_entry_return_address(ctx, &t.caller_pcs[0]) == 0) {
#pragma unroll
    for (int i = 1; i < GOSCRY_GC_CALLER_PCS; ++i) {
      if (!fp || bpf_probe_read_user(&t.caller_pcs[i], 8, (const void *)(fp + 8)) != 0 ||
          bpf_probe_read_user(&fp, 8, (const void *)fp) != 0)
        break;
    }
  }
  struct goscry_gc_trigger_key key = {.tgid = tgid, .g = GO_G(ctx)};
  bpf_map_update_elem(&gc_triggers, &key, &t, BPF_ANY);
  return 0;
}

/* At the sweep-termination stop (on g0: R14 = g0, g0.m.curg = the goroutine in gcStart):
 * the trigger that goroutine passed, if it was recorded during this cycle's start. */
static __always_inline void take_trigger(struct pt_regs *ctx, struct goscry_settings *s,
                                         __u32 tgid, struct goscry_stw_inflight *w) {
  if (s->m_curg == GOSCRY_NO_OFFSET) return;
  __u64 m = 0, curg = 0;
  if (read_u64(GO_G(ctx) + s->g_m, &m) || read_u64(m + s->m_curg, &curg)) return;
  struct goscry_gc_trigger_key key = {.tgid = tgid, .g = curg};
  struct goscry_gc_trigger_seen *t = bpf_map_lookup_elem(&gc_triggers, &key);
  if (!t) return;
  /* gcStart adds to work.cycles after this stop: an entry of this cycle has the same. */
  __u32 now = 0;
  if (!t->has_cycles || read_work_cycles(s, &now) != 0 || now == t->cycles) {
    w->gc.flags |= GOSCRY_GC_TRIGGER_SEEN;
    w->gc.trigger = t->trigger;
    w->gc.trigger_n = t->trigger_n;
    __builtin_memcpy(w->gc.caller_pcs, t->caller_pcs, sizeof(w->gc.caller_pcs));
  }
  bpf_map_delete_elem(&gc_triggers, &key);
}

/* A word of the target at base + off, into *out (unchanged on failure); -1 when unknown. */
static __always_inline int read_field(__u64 base, __u16 off, void *out, __u32 size) {
  if (!base || off == GOSCRY_NO_OFFSET) return -1;
  if (bpf_probe_read_user(out, size, (const void *)(base + off)) != 0) {
    count(GOSCRY_CNT_READ_FAILED);
    return -1;
  }
  return 0;
}

/* When the mark termination's world starts: what the cycle marked, the goal it ran
 * against, GOGC and GOMEMLIMIT in force, and its mark CPU. gcStart of the next cycle
 * (which needs the gcsema this goroutine still holds) resets them. */
static __always_inline void read_gc_info(struct goscry_settings *s, struct goscry_gc_info *gc) {
  const __u64 c = s->gc_controller_addr;
  if (read_field(s->work_addr, s->work_heap0, &gc->heap0, 8) == 0 &&
      read_field(c, s->gcc_heap_marked, &gc->heap_marked, 8) == 0 &&
      read_field(c, s->gcc_last_heap_goal, &gc->last_heap_goal, 8) == 0)
    gc->flags |= GOSCRY_GC_HEAP_READ;
  if (read_field(c, s->gcc_gc_percent, &gc->gc_percent, 4) == 0 &&
      read_field(c, s->gcc_memory_limit, &gc->memory_limit, 8) == 0)
    gc->flags |= GOSCRY_GC_PACER_READ;
  if (read_field(c, s->gcc_assist_time, &gc->assist_ns, 8) == 0 &&
      read_field(c, s->gcc_dedicated_mark_time, &gc->dedicated_ns, 8) == 0 &&
      read_field(c, s->gcc_fractional_mark_time, &gc->fractional_ns, 8) == 0 &&
      read_field(c, s->gcc_idle_mark_time, &gc->idle_ns, 8) == 0)
    gc->flags |= GOSCRY_GC_CPU_READ;
}

static __always_inline void save_stop(__u32 tgid, struct goscry_stw_inflight *w) {
  if (bpf_map_update_elem(&stw_inflight, &tgid, w, BPF_ANY) != 0) count(GOSCRY_CNT_STW_MAP_FULL);
}

/* Go 1.19-1.20: no reason argument; the caller put it in m.preemptoff ("" in gcStart's
 * sweep termination, "gcing" in gcMarkDone's mark termination, the stopTheWorld reason
 * otherwise). stopTheWorldWithSema runs on g0 (systemstack), so R14 = g0 and g0.m is the
 * M whose preemptoff was set. */
static __always_inline void reason_from_preemptoff(struct pt_regs *ctx, struct goscry_settings *s,
                                                   struct goscry_stw_inflight *w) {
  __u64 m = 0, ptr = 0, len = 0;
  if (read_u64(GO_G(ctx) + s->g_m, &m) || read_u64(m + s->m_preemptoff, &ptr) ||
      read_u64(m + s->m_preemptoff + 8, &len))
    return;
  if (len == 0) {
    w->reason = GOSCRY_STW_GC_SWEEP_TERM;
    return;
  }
  __u64 n = len;
  if (n > GOSCRY_PREEMPTOFF_LEN - 1) n = GOSCRY_PREEMPTOFF_LEN - 1;
  if (bpf_probe_read_user(w->preemptoff, n, (const void *)ptr) != 0) {
    count(GOSCRY_CNT_READ_FAILED);
    return;
  }
  if (len == 5 && w->preemptoff[0] == 'g' && w->preemptoff[1] == 'c' &&
      w->preemptoff[2] == 'i' && w->preemptoff[3] == 'n' && w->preemptoff[4] == 'g')
    w->reason = GOSCRY_STW_GC_MARK_TERM;
}

/* Entry of stopTheWorldWithSema, Go <= 1.21: the pause starts now. (The runtime takes
 * work.pauseStart just before the call; the difference is the call itself.) */
SEC("uprobe")
int goscry_stw_stop_entry(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  struct goscry_settings *s = settings_for(tgid);
  if (!s) return 0;
  struct goscry_stw_inflight w = {.start_ns = bpf_ktime_get_ns()};
  if (s->stw_abi == GOSCRY_STW_REASON_ARG)
    w.reason = (__u8)GO_ARG0(ctx);
  else
    reason_from_preemptoff(ctx, s, &w);
  if (w.reason == GOSCRY_STW_GC_SWEEP_TERM) take_trigger(ctx, s, tgid, &w);
  save_stop(tgid, &w);
  return 0;
}

/* RETs of stopTheWorldWithSema, Go 1.22+: worldStop in registers, reason in AL and
 * startedStopping (1.22: start) in RBX. Recorded so that gcMarkTermination, which runs
 * inside the pause, finds it. */
SEC("uprobe")
int goscry_stw_stop_ret(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  struct goscry_settings *s = settings_for(tgid);
  if (!s) return 0;
  struct goscry_stw_inflight w = {.start_ns = GO_ARG1(ctx), .reason = (__u8)GO_ARG0(ctx)};
  if (w.reason == GOSCRY_STW_GC_SWEEP_TERM) take_trigger(ctx, s, tgid, &w);
  save_stop(tgid, &w);
  return 0;
}

/* Entry of gcMarkTermination (all versions): the world is stopped for mark termination
 * and this pause completes a GC cycle. Idempotent, so a second hit after a morestack
 * re-entry changes nothing. */
SEC("uprobe")
int goscry_gc_mark_termination(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  struct goscry_stw_inflight *w = bpf_map_lookup_elem(&stw_inflight, &tgid);
  if (!w) {
    count(GOSCRY_CNT_STW_UNMATCHED);
    return 0;
  }
  w->flags |= GOSCRY_STW_CYCLE_DONE;
  return 0;
}

/* RETs of gcControllerCommit, Go <= 1.21, when called by gcMarkTermination: there the
 * runtime takes `now := nanotime()` right after, records `now - work.pauseStart` as the
 * mark-termination pause, and only starts the world later (after mProf_NextCycle and the
 * sweep barrier). Other callers (debug.SetGCPercent) run outside a cycle's pause. */
SEC("uprobe")
int goscry_gc_pause_end(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  struct goscry_stw_inflight *w = bpf_map_lookup_elem(&stw_inflight, &tgid);
  if (w && (w->flags & GOSCRY_STW_CYCLE_DONE)) w->end_ns = bpf_ktime_get_ns();
  return 0;
}

/* Entry of startTheWorldWithSema(now, w worldStop), Go 1.22+: RBX = w.reason,
 * RCX = w.startedStopping — exactly what the runtime subtracts from `now`. */
SEC("uprobe")
int goscry_stw_start_entry(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  if (!settings_for(tgid)) return 0;
  struct goscry_stw_inflight *w = bpf_map_lookup_elem(&stw_inflight, &tgid);
  if (w) {
    w->start_ns = GO_ARG2(ctx);
    w->reason = (__u8)GO_ARG1(ctx);
    return 0;
  }
  /* Attached while the world was stopped: the entry alone has what we need. */
  struct goscry_stw_inflight fresh = {.start_ns = GO_ARG2(ctx), .reason = (__u8)GO_ARG1(ctx)};
  save_stop(tgid, &fresh);
  return 0;
}

/* Go <= 1.21 GC pauses as the runtime records them in /gc/pauses:seconds: from
 * work.pauseStart (taken just before stopTheWorldWithSema, ahead of our entry probe and
 * its trap) to startTheWorldWithSema's result, or for a completed mark termination to
 * work.tEnd (the `now` gcMarkTermination takes before it starts the world). */
static __always_inline void runtime_gc_clock(struct goscry_settings *s,
                                             struct goscry_stw_inflight *w, __u64 now,
                                             __u64 *start, __u64 *end) {
  if (w->reason != GOSCRY_STW_GC_MARK_TERM && w->reason != GOSCRY_STW_GC_SWEEP_TERM) return;
  __u64 pause_start = 0, t_end = 0;
  if (read_u64(s->work_addr + s->work_pause_start, &pause_start) || pause_start == 0) return;
  if (w->flags & GOSCRY_STW_CYCLE_DONE) {
    if (read_u64(s->work_addr + s->work_t_end, &t_end) || t_end < pause_start) return;
    *end = t_end;
  } else {
    *end = now;
  }
  *start = pause_start;
}

/* The runtime's number of the GC cycle a GC pause belongs to: work.cycles, 0 = unknown. */
static __always_inline __u32 gc_cycle_number(struct goscry_settings *s,
                                            struct goscry_stw_inflight *w) {
  if (w->reason != GOSCRY_STW_GC_MARK_TERM && w->reason != GOSCRY_STW_GC_SWEEP_TERM) return 0;
  __u32 n = 0;
  if (!s->work_addr || !s->work_cycles ||
      bpf_probe_read_user(&n, sizeof(n), (const void *)(s->work_addr + s->work_cycles)) != 0)
    return 0;
  return n;
}

/* RETs of startTheWorldWithSema, all versions: RAX = the `now` the runtime used for the
 * pause (1.22+: `now - w.startedStopping` goes into /sched/pauses/total/{gc,other}). */
SEC("uprobe")
int goscry_stw_start_ret(struct pt_regs *ctx) {
  __u32 tgid = current_tgid();
  keep_frame_on_thread_stack(ctx, tgid);
  struct goscry_stw_inflight *w = bpf_map_lookup_elem(&stw_inflight, &tgid);
  if (!w) {
    count(GOSCRY_CNT_STW_UNMATCHED);
    return 0;
  }
  __u64 start = w->start_ns, end = w->end_ns ? w->end_ns : GO_ARG0(ctx);
  struct goscry_settings *s = bpf_map_lookup_elem(&settings, &tgid);
  if (s && s->stw_abi != GOSCRY_STW_WORLDSTOP && s->work_addr && s->work_pause_start)
    runtime_gc_clock(s, w, GO_ARG0(ctx), &start, &end);
  const __u32 cycle = s ? gc_cycle_number(s, w) : 0;
  struct goscry_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count(GOSCRY_CNT_RINGBUF_FULL);
    bpf_map_delete_elem(&stw_inflight, &tgid);
    return 0;
  }
  __builtin_memset(e, 0, sizeof(*e));
  e->kind = GOSCRY_EV_STW;
  e->tgid = tgid;
  e->start_ns = start;
  e->end_ns = end;
  e->reason = w->reason;
  e->flags = w->flags;
  e->gc_cycle = cycle;
  __builtin_memcpy(e->preemptoff, w->preemptoff, sizeof(e->preemptoff));
  e->gc = w->gc;
  if (s && (w->flags & GOSCRY_STW_CYCLE_DONE)) read_gc_info(s, &e->gc);
  bpf_ringbuf_submit(e, 0);
  bpf_map_delete_elem(&stw_inflight, &tgid);
  return 0;
}

/* Does nothing: the floor of the cost benchmarks (tests/bench/goroutine_cost_bench.cpp)
 * attaches it where the real programs go, so the price of the uprobe trap itself can be
 * told apart from what goscry's programs add. Never attached by goscry itself. */
SEC("uprobe")
int goscry_noop(struct pt_regs *ctx) { return 0; }
