// SPDX-License-Identifier: GPL-2.0
/* cpu.bpf.c — CPU profiles of Go programs from a cpu-clock perf event per CPU.
 *
 * User space opens one software cpu-clock event per CPU at the sampling rate and attaches
 * `goscry_cpu_sample` to each. A sample of a thread whose tgid is in `cpu_targets` takes
 * its user stack by frame pointer (Go keeps frame pointers on amd64 since 1.7) and its
 * kernel stack into `stacks`, and adds one to the count of {tgid, user, kernel}. The agent
 * reads and symbolizes the stacks at the end of a recording (or earlier when `counts`
 * fills up) and deletes what it read.
 *
 * For a Go target (goscry_cpu_target.tls_g != 0) the key also holds the goroutine the
 * thread ran (m.curg, as runtime/pprof's sigprof charges it: a sample on g0 or gsignal
 * goes to the goroutine the M runs), its pprof label set's address (the agent reads the
 * labels from target memory), its goid on request, and the return address of a frameless
 * leaf. The g comes from TLS (fsbase + tls_g, fsbase from task->thread.fsbase, CO-RE):
 * the runtime stores it there on every g switch (gogo, mcall, systemstack) next to R14,
 * and unlike R14 it is also right while the thread runs C, assembly or the kernel. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "cpu.h"

char LICENSE[] SEC("license") = "GPL";

#define EEXIST 17
#define EFAULT 14

/* Key: tgid -> what to read of each process to sample. 1024 targets, as runtime.bpf.c's settings.
 * Full: the agent's add_cpu_target fails with E2BIG (nothing is dropped in BPF). Threads
 * of other processes return at once, uncounted. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct goscry_cpu_target);
} cpu_targets SEC(".maps");

/* Key: stack id -> up to GOSCRY_CPU_MAX_FRAMES return addresses, user and kernel stacks
 * alike. 16384 distinct stacks (~16 MiB preallocated) cover a 30 s recording of a busy
 * server at 99 Hz. The kernel hashes stacks into buckets and does not chain: a different
 * stack in an occupied bucket returns -EEXIST (GOSCRY_CPU_USER_EEXIST /
 * GOSCRY_CPU_KERNEL_EEXIST), the sample is still counted with that error as its stack id. */
struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 16384);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, GOSCRY_CPU_MAX_FRAMES * sizeof(__u64));
} stacks SEC(".maps");

/* Key: {tgid, user stack id, kernel stack id} -> samples. One entry per distinct stack
 * pair: 32768 entries leave room for two pairs per stored stack. The agent drains it when
 * more than half full. Full: the sample is lost (GOSCRY_CPU_COUNTS_FULL). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 32768);
  __type(key, struct goscry_cpu_key);
  __type(value, __u64);
} counts SEC(".maps");

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

/* m.curg's goid and labels. A sample outside any goroutine (the scheduler on g0 with no
 * curg) leaves both 0; an unreadable chain is counted. */
static __always_inline void read_goroutine(const struct goscry_cpu_target *t,
                                           struct task_struct *task,
                                           struct goscry_cpu_key *key) {
  __u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
  __u64 g = 0, m = 0, curg = 0;
  if (fsbase == 0 || read_u64(fsbase + t->tls_g, &g) || g == 0 || read_u64(g + t->g_m, &m) ||
      m == 0 || read_u64(m + t->m_curg, &curg)) {
    count(GOSCRY_CPU_G_UNREADABLE);
    return;
  }
  if (curg == 0) return;
  if (t->flags & GOSCRY_CPU_F_GOID) read_u64(curg + t->g_goid, &key->goid);
  read_u64(curg + t->g_labels, &key->labels);
}

/* The user registers saved on entry to the kernel: bpf_task_pt_regs (5.15+), else where
 * x86-64's task_pt_regs puts them, at the top of the task's kernel stack (THREAD_SIZE
 * 16 KiB, 32 KiB with KASAN). The fallback is checked: the saved CS must be the 64-bit
 * user code segment, else the registers are counted unknown. */
#define GOSCRY_USER_CS 0x33
static __always_inline struct pt_regs *user_regs(struct task_struct *task) {
  if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
    return (struct pt_regs *)bpf_task_pt_regs(task);
  __u64 stack = (__u64)BPF_CORE_READ(task, stack);
  if (stack == 0) return 0;
  for (__u64 size = 16384; size <= 32768; size *= 2) {
    struct pt_regs *regs =
        (struct pt_regs *)(stack + size - bpf_core_type_size(struct pt_regs));
    if (BPF_CORE_READ(regs, cs) == GOSCRY_USER_CS) return regs;
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

/* The word at the user SP when it points into Go text (see goscry_cpu_key.sp_ret). The
 * user registers: the sample's own when it hit user mode, else those saved on entry to the
 * kernel. */
static __always_inline __u64 sp_word(const struct goscry_cpu_target *t,
                                     struct bpf_perf_event_data *ctx,
                                     struct task_struct *task) {
  __u64 sp = 0, word = 0;
  /* A user-mode sample has a user IP (below the canonical-address hole); the context
   * allows only whole-word reads, so regs.cs (a u16 in this kernel's pt_regs) cannot say. */
  if (ctx->regs.ip < (1ULL << 47)) {
    sp = ctx->regs.sp;
  } else {
    struct pt_regs *regs = user_regs(task);
    if (!regs) return 0;
    sp = BPF_CORE_READ(regs, sp);
  }
  if (sp == 0 || read_u64(sp, &word)) return 0;
  return word >= t->text_lo && word < t->text_hi ? word : 0;
}

SEC("perf_event")
int goscry_cpu_sample(struct bpf_perf_event_data *ctx) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (tgid == 0) return 0;
  const struct goscry_cpu_target *t = bpf_map_lookup_elem(&cpu_targets, &tgid);
  if (!t) return 0;
  count(GOSCRY_CPU_SAMPLES);

  struct goscry_cpu_key key = {.tgid = tgid};
  if (t->tls_g != 0) {
    struct task_struct *task = current_task();
    read_goroutine(t, task, &key);
    key.sp_ret = sp_word(t, ctx, task);
  }
  key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
  if (key.user_stack_id == -EEXIST)
    count(GOSCRY_CPU_USER_EEXIST);
  else if (key.user_stack_id == -EFAULT)
    count(GOSCRY_CPU_USER_EFAULT);
  else if (key.user_stack_id < 0)
    count(GOSCRY_CPU_USER_OTHER);
  key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
  /* -EFAULT here is normal: the sample hit user mode, there is no kernel stack. */
  if (key.kernel_stack_id == -EEXIST)
    count(GOSCRY_CPU_KERNEL_EEXIST);
  else if (key.kernel_stack_id < 0 && key.kernel_stack_id != -EFAULT)
    count(GOSCRY_CPU_KERNEL_OTHER);

  __u64 *n = bpf_map_lookup_elem(&counts, &key);
  if (n) {
    __sync_fetch_and_add(n, 1);
    return 0;
  }
  __u64 one = 1;
  if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) != 0) {
    /* Another CPU may have created it meanwhile. */
    n = bpf_map_lookup_elem(&counts, &key);
    if (n)
      __sync_fetch_and_add(n, 1);
    else
      count(GOSCRY_CPU_COUNTS_FULL);
  }
  return 0;
}
