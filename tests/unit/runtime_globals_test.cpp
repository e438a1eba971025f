// runtime.allglen / runtime.allgptr: from .symtab, and for stripped binaries from the
// machine code of runtime.forEachGRace — checked against `go tool nm` of the unstripped
// twin built by the same toolchain. Stripping shifts the data sections (the build info
// records the -ldflags), not what is in them: a variable sits at the same offset into the
// same section in both.
#include "symbolizer/runtime_globals.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "symbolizer/go_binary.h"
#include "symbolizer/runtime_layout.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::all_fixtures;

// name -> address from `go tool nm`.
std::map<std::string, std::uint64_t> nm_addresses(const std::string& path) {
  auto r = testing::run_command({testing::go_command(), "tool", "nm", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::uint64_t> out;
  for (const auto& line : testing::split_lines(r.out)) {
    std::istringstream in(line);
    std::string addr, type, name;
    if (in >> addr >> type >> name) out[name] = std::stoull(addr, nullptr, 16);
  }
  return out;
}

// "section+offset" of a virtual address.
std::string place(const ElfFile& elf, std::uint64_t vaddr) {
  for (const auto& s : elf.sections())
    if (s.addr != 0 && vaddr >= s.addr && vaddr < s.addr + s.size)
      return s.name + "+" + to_hex(vaddr - s.addr);
  return "nowhere " + to_hex(vaddr);
}

TEST(RuntimeGlobals, AllgFromForEachGRaceCodeMatchesGoToolNm) {
  std::map<std::string, std::string> plain;  // go version -> unstripped path
  for (const auto& f : all_fixtures("hello"))
    if (f.variant == "plain") plain[f.go_version] = f.path;
  int checked = 0;
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "stripped" && f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    auto fegr = (*bin)->find_function("runtime.forEachGRace");
    ASSERT_TRUE(fegr);
    // The code path even where .symtab exists, so both variants test it.
    auto bytes = (*bin)->elf().read_vaddr(fegr->entry, fegr->end - fegr->entry);
    ASSERT_TRUE(bytes);
    auto loads = rip_relative_loads(bytes->bytes(), fegr->entry, "forEachGRace");
    ASSERT_TRUE(loads) << loads.error().message;
    auto found = find_allg((*bin)->elf(), CodeRange{fegr->entry, fegr->end});
    ASSERT_TRUE(found) << found.error().message;
    auto twin = ElfFile::open(plain.at(f.go_version));
    ASSERT_TRUE(twin);
    auto nm = nm_addresses(plain.at(f.go_version));
    const std::string len = place(**twin, nm.at("runtime.allglen"));
    const std::string ptr = place(**twin, nm.at("runtime.allgptr"));
    const ElfFile& elf = (*bin)->elf();
    ASSERT_GE(loads->size(), 2u);
    EXPECT_EQ(place(elf, (*loads)[0]), len);
    EXPECT_EQ(place(elf, (*loads)[1]), ptr);
    EXPECT_EQ(place(elf, found->allglen), len);
    EXPECT_EQ(place(elf, found->allgptr), ptr);
    EXPECT_EQ(found->source, f.variant == "stripped" ? "runtime.forEachGRace code" : ".symtab");
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// runtime.work from gcMarkTermination's operands (pauseNS read, tEnd written), in every
// release, where the twin's nm puts it.
TEST(RuntimeGlobals, RuntimeWorkFromGcMarkTerminationMatchesGoToolNm) {
  std::map<std::string, std::string> plain;
  for (const auto& f : all_fixtures("hello"))
    if (f.variant == "plain") plain[f.go_version] = f.path;
  int checked = 0;
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "stripped" && f.variant != "plain") continue;
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin);
    auto layout = runtime_layout((*bin)->elf(), (*bin)->go_version());
    ASSERT_TRUE(layout);
    SCOPED_TRACE(f.label());
    auto gmt = (*bin)->find_function("runtime.gcMarkTermination");
    ASSERT_TRUE(gmt);
    auto twin = ElfFile::open(plain.at(f.go_version));
    ASSERT_TRUE(twin);
    const std::string want = place(**twin, nm_addresses(plain.at(f.go_version)).at("runtime.work"));
    auto found = find_runtime_work((*bin)->elf(), CodeRange{gmt->entry, gmt->end},
                                   layout->work_pause_ns, layout->work_t_end);
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_EQ(place((*bin)->elf(), *found), want);
    auto bytes = (*bin)->elf().read_vaddr(gmt->entry, gmt->end - gmt->entry);
    ASSERT_TRUE(bytes);
    auto targets = rip_relative_targets(bytes->bytes(), gmt->entry, "gcMarkTermination");
    ASSERT_TRUE(targets);
    std::set<std::uint64_t> t(targets->begin(), targets->end());
    EXPECT_TRUE(t.count(*found + layout->work_pause_ns));
    EXPECT_TRUE(t.count(*found + layout->work_t_end));
    ++checked;
  }
  EXPECT_EQ(checked, int(2 * plain.size()));
  std::printf("runtime.work checked in %d binaries\n", checked);
}

// runtime.gcController from gcControllerCommit's `LEAQ runtime.gcController(SB), AX; CALL
// (*gcControllerState).commit`, in every release, where the twin's nm puts it.
TEST(RuntimeGlobals, GcControllerFromGcControllerCommitMatchesGoToolNm) {
  std::map<std::string, std::string> plain;
  for (const auto& f : all_fixtures("hello"))
    if (f.variant == "plain") plain[f.go_version] = f.path;
  int checked = 0;
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "stripped" && f.variant != "plain") continue;
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin);
    SCOPED_TRACE(f.label());
    auto commit_fn = (*bin)->find_function("runtime.gcControllerCommit");
    auto commit = (*bin)->find_function("runtime.(*gcControllerState).commit");
    ASSERT_TRUE(commit_fn && commit);
    auto twin = ElfFile::open(plain.at(f.go_version));
    ASSERT_TRUE(twin);
    const std::string want =
        place(**twin, nm_addresses(plain.at(f.go_version)).at("runtime.gcController"));
    auto found = find_gc_controller((*bin)->elf(), CodeRange{commit_fn->entry, commit_fn->end},
                                    commit->entry);
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_EQ(place((*bin)->elf(), *found), want);
    ++checked;
  }
  EXPECT_EQ(checked, int(2 * plain.size()));
}

// runtime.sched.goidgen (schedt's first field in 1.19-1.27) from newproc1's code, where the
// twin's nm puts runtime.sched, in every variant of every toolchain.
TEST(RuntimeGlobals, GoidGeneratorFromNewproc1CodeMatchesGoToolNm) {
  std::map<std::string, std::string> plain;
  for (const auto& f : all_fixtures("hello"))
    if (f.variant == "plain") plain[f.go_version] = f.path;
  int checked = 0;
  for (const auto& f : all_fixtures("hello")) {
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin);
    auto np = (*bin)->find_function("runtime.newproc1");
    ASSERT_TRUE(np);
    auto found = find_goid_generator((*bin)->elf(), CodeRange{np->entry, np->end});
    ASSERT_TRUE(found) << found.error().message;
    if (f.variant == "stripped" || f.variant == "plain") {
      auto twin = ElfFile::open(plain.at(f.go_version));
      ASSERT_TRUE(twin);
      const auto nm = nm_addresses(plain.at(f.go_version));
      EXPECT_EQ(place((*bin)->elf(), *found), place(**twin, nm.at("runtime.sched")));
    } else {
      EXPECT_EQ(*found, nm_addresses(f.path).at("runtime.sched"));
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(RuntimeGlobals, StrippedBinaryWithoutTheFunctionIsAnError) {
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "stripped") continue;
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    auto r = find_allg(**elf, std::nullopt);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, f.path + ": cannot locate runtime.allglen: no .symtab and no "
                                          "runtime.forEachGRace");
    return;
  }
}

// runtime.mbuckets, runtime.MemProfileRate, runtime.mProfCycle from the code of
// mProf_FlushLocked, mProf_Free and profilealloc (docs/go-runtime.md "The heap profile"),
// on plain, stripped and PIE builds of every toolchain, against `go tool nm` of the plain
// twin; with .symtab, find_heap_profile takes the symbols.
TEST(RuntimeGlobals, HeapProfileGlobalsFromRuntimeCodeMatchGoToolNm) {
  std::map<std::string, std::string> plain;  // go version -> unstripped path
  for (const auto& f : all_fixtures("heapsites"))
    if (f.variant == "plain") plain[f.go_version] = f.path;
  int checked = 0;
  for (const auto& f : all_fixtures("heapsites")) {
    if (f.variant == "cgo") continue;
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    auto range = [&](const char* name) -> std::optional<CodeRange> {
      auto fn = (*bin)->find_function(name);
      EXPECT_TRUE(fn) << name;
      if (!fn) return std::nullopt;
      return CodeRange{fn->entry, fn->end};
    };
    HeapProfileCode code{range("runtime.mProf_FlushLocked"), range("runtime.mProf_Free"),
                         range("runtime.profilealloc")};
    auto found = heap_profile_from_code((*bin)->elf(), code);
    ASSERT_TRUE(found) << found.error().message;
    auto twin = ElfFile::open(plain.at(f.go_version));
    ASSERT_TRUE(twin);
    auto nm = nm_addresses(plain.at(f.go_version));
    const ElfFile& elf = (*bin)->elf();
    EXPECT_EQ(place(elf, found->mbuckets), place(**twin, nm.at("runtime.mbuckets")));
    EXPECT_EQ(place(elf, found->mem_profile_rate), place(**twin, nm.at("runtime.MemProfileRate")));
    EXPECT_EQ(place(elf, found->mprof_cycle), place(**twin, nm.at("runtime.mProfCycle")));
    auto preferred = find_heap_profile(elf, code);
    ASSERT_TRUE(preferred) << preferred.error().message;
    EXPECT_EQ(preferred->source, f.variant == "stripped" ? "runtime code" : ".symtab");
    EXPECT_EQ(preferred->mbuckets, found->mbuckets);
    EXPECT_EQ(preferred->mem_profile_rate, found->mem_profile_rate);
    EXPECT_EQ(preferred->mprof_cycle, found->mprof_cycle);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// runtime.bbuckets, runtime.xbuckets, runtime.blockprofilerate, runtime.mutexprofilerate
// from the code of stkbucket and semacquire1 (docs/go-runtime.md "The block and mutex
// profiles"), on plain, stripped and PIE builds of every toolchain, against `go tool nm` of
// the plain twin; with .symtab, find_contention_profile takes the symbols.
TEST(RuntimeGlobals, ContentionProfileGlobalsFromRuntimeCodeMatchGoToolNm) {
  std::map<std::string, std::string> plain;  // go version -> unstripped path
  for (const auto& f : all_fixtures("contention"))
    if (f.variant == "plain") plain[f.go_version] = f.path;
  int checked = 0;
  for (const auto& f : all_fixtures("contention")) {
    if (f.variant == "cgo") continue;
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    auto range = [&](const char* name) -> std::optional<CodeRange> {
      auto fn = (*bin)->find_function(name);
      EXPECT_TRUE(fn) << name;
      if (!fn) return std::nullopt;
      return CodeRange{fn->entry, fn->end};
    };
    const ElfFile& elf = (*bin)->elf();
    HeapProfileCode heap{range("runtime.mProf_FlushLocked"), range("runtime.mProf_Free"),
                         range("runtime.profilealloc")};
    auto h = heap_profile_from_code(elf, heap);
    ASSERT_TRUE(h) << h.error().message;
    ContentionProfileCode code{range("runtime.stkbucket"), range("runtime.semacquire1"),
                               h->mbuckets};
    auto found = contention_profile_from_code(elf, code);
    ASSERT_TRUE(found) << found.error().message;
    auto twin = ElfFile::open(plain.at(f.go_version));
    ASSERT_TRUE(twin);
    auto nm = nm_addresses(plain.at(f.go_version));
    EXPECT_EQ(place(elf, found->bbuckets), place(**twin, nm.at("runtime.bbuckets")));
    EXPECT_EQ(place(elf, found->xbuckets), place(**twin, nm.at("runtime.xbuckets")));
    EXPECT_EQ(place(elf, found->block_rate), place(**twin, nm.at("runtime.blockprofilerate")));
    EXPECT_EQ(place(elf, found->mutex_rate), place(**twin, nm.at("runtime.mutexprofilerate")));
    auto preferred = find_contention_profile(elf, code);
    ASSERT_TRUE(preferred) << preferred.error().message;
    EXPECT_EQ(preferred->source, f.variant == "stripped" ? "runtime code" : ".symtab");
    EXPECT_EQ(preferred->bbuckets, found->bbuckets);
    EXPECT_EQ(preferred->xbuckets, found->xbuckets);
    EXPECT_EQ(preferred->block_rate, found->block_rate);
    EXPECT_EQ(preferred->mutex_rate, found->mutex_rate);
    EXPECT_EQ(preferred->ticks.has_value(), f.variant != "stripped");
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace goscry
