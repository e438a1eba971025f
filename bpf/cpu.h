/* Structs shared by bpf/cpu.bpf.c and the agent (agent/bpf_loader.cpp). Plain C,
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

/* One aggregated sample key. A stack id < 0 is the error bpf_get_stackid returned
 * (-EFAULT: no user stack, e.g. a kernel thread; -EEXIST: a hash collision). */
struct goscry_cpu_key {
  __u32 tgid;
  __s32 user_stack_id;
  __s32 kernel_stack_id;
  __u32 pad;
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
  GOSCRY_CPU_CNT_MAX = 7,
};

#endif
