/* go_abi.h — where Go's ABIInternal keeps its values on the architecture a BPF object is
 * built for (-D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64, cmake/BpfSkeleton.cmake): the
 * only place the BPF programs name machine registers, with runtime.bpf.c's register_value
 * (the probe cookie's register). docs/go-runtime.md has both mappings
 * ("Registers" and "arm64").
 *
 *                       amd64                        arm64
 *   integer arg/result  RAX RBX RCX RDI RSI R8..R11  R0..R15  (index 0, 1, 2, ...)
 *   current g           R14                          R28
 *   frame pointer       RBP                          R29
 *   return address at   [RSP] (the CALL pushed it)   R30 (LR: BL sets it)
 *   a function's entry
 *
 * amd64 expands to exactly the field reads the programs made before this header (ctx->ax,
 * ctx->r14, ...), so its code does not change (llvm-objdump of the objects). arm64 reads `struct user_pt_regs`, the UAPI
 * layout that heads the kernel's arm64 pt_regs and the perf event context (the same cast
 * libbpf's PT_REGS_* make): a fixed ABI, so it needs no CO-RE and no arm64 vmlinux.h. */
#ifndef GOSCRY_BPF_GO_ABI_H
#define GOSCRY_BPF_GO_ABI_H

#if defined(__TARGET_ARCH_arm64)

/* arch/arm64/include/uapi/asm/ptrace.h; the x86 vmlinux.h the objects compile against
 * has no such type. */
struct user_pt_regs {
  __u64 regs[31];
  __u64 sp;
  __u64 pc;
  __u64 pstate;
};
#define GOSCRY_UREGS(ctx) ((const struct user_pt_regs *)(ctx))

#define GO_ARG0(ctx) (GOSCRY_UREGS(ctx)->regs[0])
#define GO_ARG1(ctx) (GOSCRY_UREGS(ctx)->regs[1])
#define GO_ARG2(ctx) (GOSCRY_UREGS(ctx)->regs[2])
#define GO_G(ctx) (GOSCRY_UREGS(ctx)->regs[28])
#define GO_FP(ctx) (GOSCRY_UREGS(ctx)->regs[29])
#define GO_SP(ctx) (GOSCRY_UREGS(ctx)->sp)
#define GO_PC(ctx) (GOSCRY_UREGS(ctx)->pc)
/* The caller's pc at a function's entry (before its prologue). */
static __always_inline long go_entry_return_address(const void *ctx, __u64 *out) {
  *out = GOSCRY_UREGS(ctx)->regs[30];
  return 0;
}
/* Below the user/kernel split: arm64 user addresses are < 2^52 (52-bit VA), kernel ones
 * start at 0xfff0... (TTBR1). */
#define GOSCRY_USER_ADDR_END (1ULL << 52)

#elif defined(__TARGET_ARCH_x86)

#define GO_ARG0(ctx) ((ctx)->ax)
#define GO_ARG1(ctx) ((ctx)->bx)
#define GO_ARG2(ctx) ((ctx)->cx)
#define GO_G(ctx) ((ctx)->r14)
#define GO_FP(ctx) ((ctx)->bp)
#define GO_SP(ctx) ((ctx)->sp)
#define GO_PC(ctx) ((ctx)->ip)
static __always_inline long go_entry_return_address(const struct pt_regs *ctx, __u64 *out) {
  return bpf_probe_read_user(out, 8, (const void *)ctx->sp);
}
/* Below the canonical-address hole (48-bit VA). */
#define GOSCRY_USER_ADDR_END (1ULL << 47)

#else
#error "goscry's BPF objects are built for __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif

#endif
