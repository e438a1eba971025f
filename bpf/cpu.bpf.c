// SPDX-License-Identifier: GPL-2.0
/* cpu.bpf.c — CPU profiles of Go programs from a cpu-clock perf event per CPU.
 *
 * User space opens one software cpu-clock event per CPU at the sampling rate and attaches
 * `goscry_cpu_sample` to each. A sample of a thread whose tgid is in `cpu_targets` takes
 * its user stack by frame pointer (Go keeps frame pointers on amd64 since 1.7) and its
 * kernel stack, and sends both in one record through the `samples` ring; the agent counts
 * the records per {tgid, stacks, goroutine, labels} as it drains the ring.
 *
 * The stacks travel in the record, not in a stack trace map: that map hashes a stack into
 * one of max_entries buckets and does not chain, so a second stack in a taken bucket is
 * refused (-EEXIST) and its sample keeps no stack; with n stacks stored about n / max_entries
 * of new ones collide (12 % of 4,857 samples of 65,536 distinct paths with 16,384 entries).
 * BPF_F_REUSE_STACKID would instead overwrite a stack that counts already refer to. The
 * record costs a copy of the frames (~0.3 KiB for a 30-frame Go stack); the map's hashing
 * and bucket compare are gone (docs/verbs/record.md, "Cost").
 *
 * For a Go target (goscry_cpu_target.tls_g != 0) the key also holds the goroutine the
 * thread ran (m.curg, as runtime/pprof's sigprof charges it: a sample on g0 or gsignal
 * goes to the goroutine the M runs), its pprof label set's address (the agent reads the
 * labels from target memory), its goid on request, and the return address of a frameless
 * leaf. The g comes from TLS (fsbase + tls_g, fsbase from task->thread.fsbase, CO-RE):
 * the runtime stores it there on every g switch (gogo, mcall, systemstack) next to R14,
 * and unlike R14 it is also right while the thread runs C, assembly or the kernel. arm64
 * Go stores g in TLS only with cgo (TPIDR_EL0 + tls_g); without, it is R28 of the user
 * registers (tls_g only says "a Go target"; go_abi.h), checked against its m.
 *
 * A sample on the system stack (g0, under runtime.systemstack or runtime.morestack) also
 * carries where m.curg's stack was left (curg.sched): the frame pointer walk skips the
 * goroutine's frame that switched, and the agent puts it back as SIGPROF's traceback shows it
 * (docs/go-runtime.md, "CPU samples on the system stack"). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "cpu.h"
#include "go_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define EFAULT 14
#define ENODATA 61

/* Key: tgid -> what to read of each process to sample. 1024 targets, as runtime.bpf.c's settings.
 * Full: the agent's add_cpu_target fails with E2BIG (nothing is dropped in BPF). Threads
 * of other processes return at once, uncounted. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct goscry_cpu_target);
} cpu_targets SEC(".maps");

/* One record per sample (struct goscry_cpu_sample, cut after its last frame: ~0.5 KiB for a
 * 30-frame Go stack under a 20-frame kernel one, 2 KiB at most). The agent sizes the ring at
 * load for 2 s of samples of 1 KiB on every CPU at its rate (CpuSampler::open, 1-64 MiB) and
 * drains it every 100 ms (record) or 1 s (agent). Full: the sample is lost
 * (GOSCRY_CPU_RING_FULL). */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} samples SEC(".maps");

/* Key: 0 -> this CPU's record being built: bpf_get_stack writes the stacks there and
 * bpf_ringbuf_output copies the used part into the ring (bpf_ringbuf_reserve takes a
 * constant size: every record would take the largest one's 2 KiB of the ring). One entry,
 * never full; a perf event program does not nest on its CPU. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct goscry_cpu_sample);
} scratch SEC(".maps");

/* Key: enum goscry_cpu_counter -> per-CPU count. Fixed size, never full. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, GOSCRY_CPU_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} cpu_counters SEC(".maps");

static __always_inline void count(__u32 which) {
  __u64 *v = bpf_map_lookup_elem(&cpu_counters, &which);
  if (v) *v += 1;
}

static __always_inline int read_u64(__u64 addr, __u64 *out) {
  return bpf_probe_read_user(out, sizeof *out, (const void *)addr);
}

static __always_inline int in_go_text(const struct goscry_cpu_target *t, __u64 pc) {
  return pc >= t->text_lo && pc < t->text_hi;
}

/* A thread on its system stack (g == m.g0) that runs goroutine curg for it: where curg's
 * own stack stops, as the runtime's traceback jumps there (unwindJumpStack, docs/go-runtime.md
 * "CPU samples on the system stack"): curg.sched.pc and the return address at curg.sched.sp.
 * Checked as the runtime checks (curg.m == m); a zero sched.sp (no switch saved) reads nothing. */
static __always_inline void read_switch(const struct goscry_cpu_target *t, __u64 m,
                                        __u64 curg, struct goscry_cpu_sample *s) {
  __u64 curg_m = 0, sp = 0, pc = 0, ret = 0;
  if (t->g_sched_sp == 0 || read_u64(curg + t->g_m, &curg_m) || curg_m != m ||
      read_u64(curg + t->g_sched_sp, &sp) || sp == 0 || read_u64(curg + t->g_sched_pc, &pc) ||
      read_u64(sp, &ret))
    return;
  s->sched_pc = in_go_text(t, pc) ? pc : 0;
  s->sched_ret = in_go_text(t, ret) ? ret : 0;
}

/* The user registers saved on entry to the kernel: bpf_task_pt_regs (5.15+), else where
 * task_pt_regs puts them, at the top of the task's kernel stack (THREAD_SIZE 16 KiB, 32 KiB
 * with KASAN, on x86-64 and arm64 alike). The fallback is checked: the saved registers
 * must be a 64-bit user mode's (x86-64: CS the user code segment; arm64: PSTATE's mode
 * bits EL0t, AArch64), else the registers are counted unknown. */
#if defined(__TARGET_ARCH_arm64)
static __always_inline int saved_in_user_mode(struct pt_regs *regs) {
  __u64 pstate = ~0ULL;
  bpf_probe_read_kernel(&pstate, sizeof pstate, &GOSCRY_UREGS(regs)->pstate);
  return (pstate & 0x1f) == 0; /* PSR_MODE_EL0t, and not PSR_MODE32_BIT */
}
/* A word of the saved user registers (they are kernel memory). */
static __always_inline __u64 saved_reg(struct pt_regs *regs, int n) {
  __u64 v = 0;
  bpf_probe_read_kernel(&v, sizeof v, &GOSCRY_UREGS(regs)->regs[n]);
  return v;
}
#else
#define GOSCRY_USER_CS 0x33
static __always_inline int saved_in_user_mode(struct pt_regs *regs) {
  return BPF_CORE_READ(regs, cs) == GOSCRY_USER_CS;
}
#endif
static __always_inline struct pt_regs *user_regs(struct task_struct *task) {
  if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
    return (struct pt_regs *)bpf_task_pt_regs(task);
  __u64 stack = (__u64)BPF_CORE_READ(task, stack);
  if (stack == 0) return 0;
  for (__u64 size = 16384; size <= 32768; size *= 2) {
    struct pt_regs *regs =
        (struct pt_regs *)(stack + size - bpf_core_type_size(struct pt_regs));
    if (saved_in_user_mode(regs)) return regs;
  }
  count(GOSCRY_CPU_REGS_UNKNOWN);
  return 0;
}

/* The task the sample interrupted: a BTF pointer (5.11+) or, before, the plain one that
 * BPF_CORE_READ reads through bpf_probe_read_kernel all the same. */
static __always_inline struct task_struct *current_task(void) {
  if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
    return bpf_get_current_task_btf();
  return (struct task_struct *)bpf_get_current_task();
}

/* Did the sample interrupt user mode? Its IP is then a user address, below the split
 * (GOSCRY_USER_ADDR_END); the context allows only whole-word reads, so x86's regs.cs (a
 * u16 in this kernel's pt_regs) cannot say. */
static __always_inline int in_user(struct bpf_perf_event_data *ctx) {
  return GO_PC(&ctx->regs) < GOSCRY_USER_ADDR_END;
}

#if defined(__TARGET_ARCH_arm64)
/* arm64's thread pointer: TPIDR_EL0 as the kernel saved it for the task (thread.uw.tp_value,
 * set at clone by CLONE_SETTLS and at every switch out; 0 in a main thread that has not
 * been switched out since its C library set the register itself). The types are arm64's,
 * which the x86 vmlinux.h lacks: these ___arm64 flavors are matched by name in the running
 * kernel's BTF (CO-RE). */
struct thread_struct___arm64 {
  struct {
    unsigned long tp_value;
  } uw;
} __attribute__((preserve_access_index));
struct task_struct___arm64 {
  struct thread_struct___arm64 thread;
} __attribute__((preserve_access_index));

/* arm64: the current g is in TLS in a cgo binary (TPIDR_EL0 + tls_g, GOSCRY_CPU_F_TLS_G),
 * right while C code runs too; else in R28, from the sample's registers in user mode, else
 * from those saved on entry to the kernel (read_goroutine checks either against its m). */
static __always_inline int current_g(const struct goscry_cpu_target *t,
                                     struct bpf_perf_event_data *ctx,
                                     struct task_struct *task, __u64 *g) {
  if (t->flags & GOSCRY_CPU_F_TLS_G) {
    __u64 tp = BPF_CORE_READ((struct task_struct___arm64 *)task, thread.uw.tp_value);
    return tp == 0 || read_u64(tp + t->tls_g, g);
  }
  if (in_user(ctx)) {
    *g = GO_G(&ctx->regs);
    return 0;
  }
  struct pt_regs *regs = user_regs(task);
  if (!regs) return -1;
  *g = saved_reg(regs, 28);
  return 0;
}

/* A frameless leaf's return address (see goscry_cpu_key.sp_ret): on arm64 BL leaves it in
 * the link register R30, never on the stack; kept when it points into Go text. */
static __always_inline __u64 sp_word(const struct goscry_cpu_target *t,
                                     struct bpf_perf_event_data *ctx,
                                     struct task_struct *task) {
  __u64 word = 0;
  if (in_user(ctx)) {
    word = GOSCRY_UREGS(&ctx->regs)->regs[30];
  } else {
    struct pt_regs *regs = user_regs(task);
    if (!regs) return 0;
    word = saved_reg(regs, 30);
  }
  return in_go_text(t, word) ? word : 0;
}

/* R28 is Go's g only while Go code runs: C code or assembly may keep anything there (it is
 * callee-saved in the C ABI), and a g read through it would give a plausible wrong goid and
 * labels. It is taken only when its m names it back as m.curg or m.g0 (read_goroutine); a
 * signal handler's gsignal is not named so and loses its goroutine too (counted
 * unreadable). TLS's g is checked the same way: its offset is computed, not read from the
 * code that uses it. */
#define GOSCRY_G_CHECKED 1
#else
/* The current g, from TLS: fsbase + tls_g. */
static __always_inline int current_g(const struct goscry_cpu_target *t,
                                     struct bpf_perf_event_data *ctx,
                                     struct task_struct *task, __u64 *g) {
  __u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
  return fsbase == 0 || read_u64(fsbase + t->tls_g, g);
}

/* The word at the user SP when it points into Go text (see goscry_cpu_key.sp_ret). The
 * user registers: the sample's own when it hit user mode, else those saved on entry to the
 * kernel. */
static __always_inline __u64 sp_word(const struct goscry_cpu_target *t,
                                     struct bpf_perf_event_data *ctx,
                                     struct task_struct *task) {
  __u64 sp = 0, word = 0;
  if (in_user(ctx)) {
    sp = ctx->regs.sp;
  } else {
    struct pt_regs *regs = user_regs(task);
    if (!regs) return 0;
    sp = BPF_CORE_READ(regs, sp);
  }
  if (sp == 0 || read_u64(sp, &word)) return 0;
  return in_go_text(t, word) ? word : 0;
}

/* TLS's g is the runtime's own, whatever code the thread runs: taken as it is. */
#define GOSCRY_G_CHECKED 0
#endif

/* m.curg's goid and labels. A sample outside any goroutine (the scheduler on g0 with no
 * curg) leaves both 0; an unreadable chain is counted. */
static __always_inline void read_goroutine(const struct goscry_cpu_target *t,
                                           struct bpf_perf_event_data *ctx,
                                           struct task_struct *task,
                                           struct goscry_cpu_sample *s) {
  __u64 g = 0, m = 0, curg = 0, g0 = 0;
  /* m.g0 is m's first field: t->m_g0 is 0 even where the layout has no sched offsets. */
  if (current_g(t, ctx, task, &g) || g == 0 || read_u64(g + t->g_m, &m) || m == 0 ||
      read_u64(m + t->m_curg, &curg) || (g != curg && read_u64(m + t->m_g0, &g0)) ||
      (GOSCRY_G_CHECKED && g != curg && g != g0)) {
    count(GOSCRY_CPU_G_UNREADABLE);
    return;
  }
  if (curg == 0) return;
  if (t->flags & GOSCRY_CPU_F_GOID) read_u64(curg + t->g_goid, &s->goid);
  read_u64(curg + t->g_labels, &s->labels);
  if (g == g0) read_switch(t, m, curg, s);
}

/* Frames from bpf_get_stack's result: its byte count / 8 (at most GOSCRY_CPU_MAX_FRAMES, said
 * again for verifiers that do not bound the helper's result), else 0 and *error set. */
static __always_inline __u32 frames_of(long got, __s32 *error) {
  if (got <= 0) {
    *error = got < 0 ? (__s32)got : -ENODATA;
    return 0;
  }
  __u32 n = (__u32)got / sizeof(__u64);
  return n > GOSCRY_CPU_MAX_FRAMES ? GOSCRY_CPU_MAX_FRAMES : n;
}

SEC("perf_event")
int goscry_cpu_sample(struct bpf_perf_event_data *ctx) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (tgid == 0) return 0;
  const struct goscry_cpu_target *t = bpf_map_lookup_elem(&cpu_targets, &tgid);
  if (!t) return 0;
  count(GOSCRY_CPU_SAMPLES);
  __u32 zero = 0;
  struct goscry_cpu_sample *s = bpf_map_lookup_elem(&scratch, &zero);
  if (!s) return 0;
  s->tgid = tgid;
  s->user_error = s->kernel_error = 0;
  s->goid = s->labels = s->sp_ret = s->sched_pc = s->sched_ret = 0;
  if (t->tls_g != 0) {
    struct task_struct *task = current_task();
    read_goroutine(t, ctx, task, s);
    s->sp_ret = sp_word(t, ctx, task);
  }

  const __u32 stack_bytes = GOSCRY_CPU_MAX_FRAMES * sizeof(__u64);
  long got = bpf_get_stack(ctx, s->ips, stack_bytes, BPF_F_USER_STACK);
  __u32 user = frames_of(got, &s->user_error);
  if (s->user_error == -EFAULT)
    count(GOSCRY_CPU_USER_EFAULT);
  else if (s->user_error != 0)
    count(GOSCRY_CPU_USER_OTHER);
  got = bpf_get_stack(ctx, &s->ips[user], stack_bytes, 0);
  __u32 kernel = 0;
  if (!in_user(ctx)) {
    kernel = frames_of(got, &s->kernel_error);
    if (s->kernel_error != 0) count(GOSCRY_CPU_KERNEL_LOST);
  }
  s->user_frames = user;
  s->kernel_frames = kernel;
  __u64 size = GOSCRY_CPU_SAMPLE_HEADER + (user + kernel) * sizeof(__u64);
  /* No wakeup: the agent drains the ring on its own clock, never waiting on it. */
  if (bpf_ringbuf_output(&samples, s, size, BPF_RB_NO_WAKEUP) != 0) count(GOSCRY_CPU_RING_FULL);
  return 0;
}
