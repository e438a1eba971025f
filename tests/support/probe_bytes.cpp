#include "tests/support/probe_bytes.h"

#include <gtest/gtest.h>

#include "agent/probes/attacher.h"
#include "symbolizer/elf_file.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/process.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry::testing {

std::size_t ProbeBytes::breakpoints() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < file.size(); ++i)
    n += memory[i] != file[i] && (memory[i] == 0xCC || (memory[i] == 0xE8 && file[i] == 0x0F));
  return n;
}

ProbeBytes probe_bytes(pid_t pid, const std::string& exe, const std::string& go_version) {
  ProbeBytes out;
  auto elf = ElfFile::open(exe);
  auto sym = elf ? GoBinary::from_elf(*elf)
                 : Result<std::shared_ptr<GoBinary>>(fail(ErrorKind::Io, "no elf"));
  auto plan = sym ? plan_probes(**sym, exe, pid, go_version)
                  : Result<ProbePlan>(fail(ErrorKind::Io, "no sym"));
  auto bias = elf ? load_bias(pid, **elf) : Result<std::uint64_t>(fail(ErrorKind::Io, "no elf"));
  auto proc = Process::attach_readonly(pid);
  EXPECT_TRUE(plan && bias && proc);
  if (!plan || !bias || !proc) return out;
  for (const auto& u : plan->uprobes) {
    auto vaddr = (*elf)->offset_to_vaddr(u.file_offset);
    auto f = (*elf)->file_bytes().u8(u.file_offset);
    auto m =
        vaddr ? (*proc)->read_u8(*vaddr + *bias) : Result<std::uint8_t>(fail(ErrorKind::Io, "?"));
    EXPECT_TRUE(f && m);
    out.file.push_back(f ? *f : 0);
    out.memory.push_back(m ? *m : 0);
  }
  return out;
}

}  // namespace goscry::testing
