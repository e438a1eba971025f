/* Structs shared by bpf/cpu.bpf.c and the agent (agent/probes/bpf_loader.cpp). Plain C,
 * fixed-width types only, explicit padding: both compilers must agree on every offset. */
#ifndef GOSCRY_BPF_CPU_H
#define GOSCRY_BPF_CPU_H

#ifdef __bpf__
/* vmlinux.h already defines __u8 ... __u64. */
#else
#include <linux/types.h>
#endif

/* Frames kept per stack: Go stacks of deep handlers reach 60-100 frames; 127 is the
 * kernel's default perf_event_max_stack. */
#define GOSCRY_CPU_MAX_FRAMES 127

/* What the sampler reads of a target beyond its stacks (cpu_targets map value). A zero
 * tls_g means "not a Go program we know": no goroutine, labels nor return address. */
struct goscry_cpu_target {
  __s64 tls_g;     /* the current g is at fsbase + tls_g (-8 for most Go binaries); arm64:
                    * TPIDR_EL0 + tls_g with GOSCRY_CPU_F_TLS_G */
  __u16 g_m;       /* offsets in runtime.g / runtime.m (symbolizer/runtime_layout.h) */
  __u16 g_goid;
  __u16 g_labels;
  __u16 m_curg;
  __u32 flags;     /* GOSCRY_CPU_F_* */
  __u16 m_g0;      /* runtime.m.g0, and runtime.g.sched.sp / .pc: a sample on the system */
  __u16 g_sched_sp; /* stack reads where m.curg left its own stack (goscry_cpu_sample.sched_*); */
  __u16 g_sched_pc; /* all three 0: not read */
  __u16 pad;
  __u64 text_lo;   /* run-time range of Go code: a word at the user SP inside it may be */
  __u64 text_hi;   /* a frameless leaf's return address (sp_ret) */
  /* Run-time [lo, hi) of runtime.systemstack, runtime.morestack, runtime.mcall,
   * runtime.mstart and runtime.goexit, read by the agent only (CpuSampler::count_sample):
   * where a stack on g0 continues on the goroutine's or ends, and the frame runtime/pprof
   * leaves out. 0: none. */
  __u64 systemstack_lo, systemstack_hi;
  __u64 morestack_lo, morestack_hi;
  __u64 mcall_lo, mcall_hi;
  __u64 mstart_lo, mstart_hi;
  __u64 goexit_lo, goexit_hi;
};

#define GOSCRY_CPU_F_GOID 1u /* key samples by goroutine id too (--goid-labels) */
/* arm64: g is at TPIDR_EL0 + tls_g (a cgo binary, where Go keeps it in TLS too), else R28 */
#define GOSCRY_CPU_F_TLS_G 2u

/* One sample as the `samples` ring carries it: this header, then `user_frames` user return
 * addresses (leaf first), then `kernel_frames` kernel ones. The record is cut after the last
 * frame: GOSCRY_CPU_SAMPLE_HEADER + 8 x (user_frames + kernel_frames) bytes. */
struct goscry_cpu_sample {
  __u32 tgid;
  __u16 user_frames;
  __u16 kernel_frames;
  __s32 user_error;   /* no user frame: bpf_get_stack's error, or -ENODATA if it gave none */
  __s32 kernel_error; /* a kernel-mode sample without kernel frames: as user_error */
  __u64 goid;         /* m.curg's goid with GOSCRY_CPU_F_GOID, else 0 */
  __u64 labels;       /* m.curg.labels: the pprof label set's address in the target, 0 = none */
  /* The word at the user SP when it lies in Go text: the return address of a leaf that has
   * no frame yet (frameless function, prologue, epilogue), which a frame pointer walk
   * skips. The agent keeps it only where the pcsp table says SP is at the entry value. */
  __u64 sp_ret;
  /* A sample on g0 (m's system stack) while the M runs goroutine m.curg: curg.sched.pc and
   * the word at curg.sched.sp, where runtime.systemstack and runtime.morestack left the
   * goroutine's stack (docs/go-runtime.md, "CPU samples on the system stack"); else 0. */
  __u64 sched_pc;
  __u64 sched_ret;
  __u64 ips[2 * GOSCRY_CPU_MAX_FRAMES];
};
#define GOSCRY_CPU_SAMPLE_HEADER 56 /* offsetof(struct goscry_cpu_sample, ips) */

/* One aggregated sample key, built by the agent from the ring's records: the stacks are
 * ids in the agent's table of stacks (CpuSampler::stack). A stack id < 0 means no stack:
 * -ENOENT for the kernel stack of a sample taken in user mode (there is none), else the
 * stack was lost and the id says why (bpf_get_stack's error, -ENODATA: no frame,
 * -ENOSPC: the agent's stack table was full). */
struct goscry_cpu_key {
  __u32 tgid;
  __s32 user_stack_id;
  __s32 kernel_stack_id;
  __u32 pad;
  __u64 goid;
  __u64 labels;
  __u64 sp_ret;
};

/* Per-CPU counters of what the profiler lost (cpu_counters map). Every sample taken is in
 * the profile or in GOSCRY_CPU_RING_FULL; every stack lost is in one of the *_LOST ones and
 * its sample in the profile under a "[stack lost: ...]" frame (docs/verbs/record.md). */
enum goscry_cpu_counter {
  GOSCRY_CPU_SAMPLES = 0,          /* samples of a target taken (kept or not) */
  GOSCRY_CPU_RING_FULL = 1,        /* samples ring full: the sample is lost */
  GOSCRY_CPU_USER_EFAULT = 2,      /* user stack unreadable (-EFAULT): stack lost */
  GOSCRY_CPU_USER_OTHER = 3,       /* any other bpf_get_stack error, or no frame (user) */
  GOSCRY_CPU_KERNEL_LOST = 4,      /* a kernel-mode sample without its kernel stack */
  GOSCRY_CPU_G_UNREADABLE = 5,     /* TLS g, g.m or m.curg unreadable: no goid, no labels */
  GOSCRY_CPU_REGS_UNKNOWN = 6,     /* < 5.15: a kernel-mode sample's saved user registers
                                    * not found: no frameless leaf's caller (sp_ret) */
  GOSCRY_CPU_USER_TABLE_FULL = 7,  /* counted by the agent, not BPF: its table of stacks */
  GOSCRY_CPU_KERNEL_TABLE_FULL = 8,/* (CpuStackTable) was full, the stack is lost */
  GOSCRY_CPU_CNT_MAX = 9,
};

#endif
