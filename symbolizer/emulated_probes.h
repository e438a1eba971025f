// Cheaper places for goscry's hot uprobes (creation and exit of every goroutine). A uprobe
// costs one breakpoint trap, plus a second trap when the kernel has to single-step the
// probed instruction out of line; x86 uprobes emulate instead of stepping for CALL/JMP/Jcc
// rel, NOP and PUSH reg (arch/x86/kernel/uprobes.c: branch_setup_xol_ops,
// push_setup_xol_ops), and from Linux 6.18 turn a probe on a 5-byte NOP into a CALL to a
// trampoline that enters the kernel by a syscall, with no trap at all. So instead of a RET
// (stepped) or a function's first instruction (CMP, stepped), goscry probes the nearest
// such instruction at which the value it wants is still in a known register. amd64; on
// arm64 the call sites and the stack-check branch so far (docs/go-runtime.md "arm64").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "symbolizer/error.h"
#include "symbolizer/go_binary.h"

namespace goscry {

// The x86-64 general registers, numbered as bpf/runtime.h's enum goscry_reg.
enum class GpReg : std::uint8_t { Rax, Rbx, Rcx, Rdx, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R15 };
const char* gp_reg_name(GpReg r);

// What a uprobe on an instruction costs, cheapest last.
enum class ProbeCost : std::uint8_t {
  Stepped,   // int3 trap + single-step trap (out-of-line execution)
  Emulated,  // int3 trap, the kernel emulates the instruction
  Nop5,      // 6.18+: rewritten into a call to the uprobe trampoline (no trap)
};
const char* probe_cost_name(ProbeCost c);

// How the kernel runs the instruction at the start of `code` under a uprobe (Stepped for
// bytes that do not decode).
ProbeCost probe_cost(std::span<const std::uint8_t> code);

struct ValueProbe {
  std::uint64_t vaddr = 0;  // the probed instruction
  GpReg reg = GpReg::Rax;   // the value is in this register when the probe fires
  ProbeCost cost = ProbeCost::Stepped;
};

// A function whose first instruction is Go's stack check `CMP RSP, [R14+16]` (or
// `LEA R12, [RSP-n]; CMP R12, [R14+16]` for big frames): the conditional jump that follows,
// which leaves every argument register as it was at the entry. nullopt for any other
// prologue (assembly, NOSPLIT): the entry is the place then.
std::optional<std::uint64_t> stack_check_branch(std::span<const std::uint8_t> code,
                                                std::uint64_t entry);
// The same in `isa`'s code: on arm64 the BLS of `MOVD 16(g), R16; CMP R16, RSP; BLS` (or
// its big-frame form), which the arm64 kernel simulates like every B.cond
// (arch/arm64/kernel/probes/decode-insn.c), arguments as at the entry.
std::optional<std::uint64_t> stack_check_branch(Isa isa, std::span<const std::uint8_t> code,
                                                std::uint64_t entry);

// The direct CALLs to `callee` from function `caller` (code = its bytes, at `entry`).
std::vector<std::uint64_t> calls_to(std::span<const std::uint8_t> code, std::uint64_t entry,
                                    std::uint64_t callee);
// The same in `isa`'s code (arm64: BL).
std::vector<std::uint64_t> calls_to(Isa isa, std::span<const std::uint8_t> code,
                                    std::uint64_t entry, std::uint64_t callee);

// Where the result a CALL left in RAX can be read after the call at `call` in function
// `code`/`entry`: the cheapest instruction of the straight-line code that follows (up to
// the next control transfer, never past a branch target) at which a register still holds
// it, following register-to-register MOVs. Falls back to the instruction after the CALL
// (RAX, stepped); fails when even that is a branch target or the end of the function.
Result<ValueProbe> result_after_call(std::span<const std::uint8_t> code, std::uint64_t entry,
                                     std::uint64_t call);

// Every direct CALL to `callee` from the runtime package's functions ("runtime." names) of
// `bin`, found by the bytes of a rel32 CALL (arm64: a BL word) and confirmed by decoding the
// caller, in the binary's instruction set: the callers
// of runtime.newproc1 differ per Go version and per program (iter.Pull, testing/synctest).
Result<std::vector<std::uint64_t>> runtime_calls_to(const GoBinary& bin, std::uint64_t callee);

}  // namespace goscry
