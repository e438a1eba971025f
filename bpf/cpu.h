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
 * kernel's default perf_event_max_stack and what a stack trace map slot holds. */
#define GOSCRY_CPU_MAX_FRAMES 127

/* What the sampler reads of a target beyond its stacks (cpu_targets map value). A zero
 * tls_g means "not a Go program we know": no goroutine, labels nor return address. */
struct goscry_cpu_target {
  __s64 tls_g;     /* the current g is at fsbase + tls_g (-8 for most Go binaries) */
  __u16 g_m;       /* offsets in runtime.g / runtime.m (symbolizer/runtime_layout.h) */
  __u16 g_goid;
  __u16 g_labels;
  __u16 m_curg;
  __u32 flags;     /* GOSCRY_CPU_F_* */
  __u32 pad;
  __u64 text_lo;   /* run-time range of Go code: a word at the user SP inside it may be */
  __u64 text_hi;   /* a frameless leaf's return address (sp_ret) */
};

#define GOSCRY_CPU_F_GOID 1u /* key samples by goroutine id too (--goid-labels) */

/* One aggregated sample key. A stack id < 0 is the error bpf_get_stackid returned
 * (-EFAULT: no user stack, e.g. a kernel thread; -EEXIST: a hash collision). */
struct goscry_cpu_key {
  __u32 tgid;
  __s32 user_stack_id;
  __s32 kernel_stack_id;
  __u32 pad;
  __u64 goid;    /* m.curg's goid with GOSCRY_CPU_F_GOID, else 0 */
  __u64 labels;  /* m.curg.labels: the pprof label set's address in the target, 0 = none */
  /* The word at the user SP when it lies in Go text: the return address of a leaf that has
   * no frame yet (frameless function, prologue, epilogue), which a frame pointer walk
   * skips. The agent keeps it only where the pcsp table says SP is at the entry value. */
  __u64 sp_ret;
};

/* Per-CPU counters of what the profiler lost (cpu_counters map). */
enum goscry_cpu_counter {
  GOSCRY_CPU_SAMPLES = 0,          /* samples of a target taken (kept or not) */
  GOSCRY_CPU_COUNTS_FULL = 1,      /* counts map full: the sample is lost */
  GOSCRY_CPU_USER_EEXIST = 2,      /* user stack collided in the stack map: stack lost */
  GOSCRY_CPU_USER_EFAULT = 3,      /* user stack unreadable */
  GOSCRY_CPU_USER_OTHER = 4,       /* any other bpf_get_stackid error (user) */
  GOSCRY_CPU_KERNEL_EEXIST = 5,    /* kernel stack collided */
  GOSCRY_CPU_KERNEL_OTHER = 6,     /* any other kernel stack error (-EFAULT: in user mode) */
  GOSCRY_CPU_G_UNREADABLE = 7,     /* TLS g, g.m or m.curg unreadable: no goid, no labels */
  GOSCRY_CPU_REGS_UNKNOWN = 8,     /* < 5.15: a kernel-mode sample's saved user registers
                                    * not found: no frameless leaf's caller (sp_ret) */
  GOSCRY_CPU_CNT_MAX = 9,
};

#endif
