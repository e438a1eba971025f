#include "symbolizer/kallsyms.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "tests/support/child.h"

namespace goscry {
namespace {

// The oracle: /proc/kallsyms read with sscanf, text symbols grouped by address.
std::map<std::uint64_t, std::set<std::string>> text_symbols_by_address() {
  std::map<std::uint64_t, std::set<std::string>> out;
  std::ifstream in("/proc/kallsyms");
  for (std::string line; std::getline(in, line);) {
    std::uint64_t addr = 0;
    char type = 0;
    char name[512];
    if (std::sscanf(line.c_str(), "%" SCNx64 " %c %511s", &addr, &type, name) == 3 &&
        (type == 't' || type == 'T'))
      out[addr].insert(name);
  }
  return out;
}

TEST(Kallsyms, ResolvesKernelFunctionsLikeTheFileSays) {
  auto t0 = std::chrono::steady_clock::now();
  auto table = Kallsyms::load();
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(table) << table.error().message;
  if (table->addresses_hidden()) GTEST_SKIP() << "kernel addresses are hidden from this user";
  std::printf("kallsyms: %zu text symbols loaded in %.1f ms\n", table->size(),
              std::chrono::duration<double, std::milli>(elapsed).count());
  auto oracle = text_symbols_by_address();
  ASSERT_GT(table->size(), 10000u);

  auto read = table->address_of("__x64_sys_read");
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_TRUE(oracle[*read].contains("__x64_sys_read"));
  auto at = table->lookup(*read);
  ASSERT_TRUE(at) << at.error().message;
  EXPECT_TRUE(oracle[*read].contains(std::string(at->name)));
  EXPECT_EQ(at->offset, 0u);
  auto inside = table->lookup(*read + 1);
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->name, at->name);
  EXPECT_EQ(inside->address, *read);
  EXPECT_EQ(inside->offset, 1u);

  // Every 500th distinct address: the symbol there, and one byte before the next
  // address still belongs to it.
  std::size_t i = 0, checked = 0;
  for (auto it = oracle.begin(); it != oracle.end(); ++it, ++i) {
    auto next = std::next(it);
    if (i % 500 != 0 || next == oracle.end()) continue;
    auto sym = table->lookup(it->first);
    ASSERT_TRUE(sym) << to_hex(it->first) << ": " << sym.error().message;
    EXPECT_TRUE(it->second.contains(std::string(sym->name))) << sym->name;
    auto last = table->lookup(next->first - 1);
    if (!last) continue;  // past _etext: nothing there
    EXPECT_EQ(last->address, it->first);
    ++checked;
  }
  EXPECT_GT(checked, 100u);
  EXPECT_FALSE(table->lookup(oracle.begin()->first - 1));
}

TEST(Kallsyms, SaysSoWhenAddressesAreHidden) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to nobody";
  // As "nobody" (no CAP_SYSLOG) the kernel prints zeros, unless it is configured to show
  // addresses to everyone (kptr_restrict 0 and perf_event_paranoid <= 1).
  std::string msg = testing::in_child([] {
    if (!testing::become_nobody()) return std::string("setresuid failed");
    auto table = Kallsyms::load();
    if (!table) return "load: " + table.error().message;
    if (!table->addresses_hidden()) return std::string("visible");
    return table->lookup(0xffffffff81000000ull).error().message;
  });
  if (msg == "visible") GTEST_SKIP() << "this kernel shows kernel addresses to unprivileged users";
  EXPECT_EQ(msg,
            "kernel symbol addresses are hidden (/proc/kallsyms shows zeros): run as root or "
            "grant CAP_SYSLOG, and check kernel.kptr_restrict");
}

TEST(Kallsyms, KeepsModuleNamesAndRejectsGarbage) {
  auto t = Kallsyms::parse(
      "ffffffff81000000 T _text\n"
      "ffffffff81000100 t helper\n"
      "ffffffff81000200 D some_data\n"
      "ffffffff81000300 T _etext\n"
      "ffffffffc0000000 t ext4_fill_super\t[ext4]\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->size(), 4u);  // data symbols are dropped
  auto helper = t->lookup(0xffffffff81000250ull);
  ASSERT_TRUE(helper);
  EXPECT_EQ(helper->name, "helper");  // the data symbol in between does not count
  EXPECT_EQ(helper->offset, 0x150u);
  auto ext4 = t->lookup(0xffffffffc0000010ull);
  ASSERT_TRUE(ext4);
  EXPECT_EQ(ext4->name, "ext4_fill_super");
  EXPECT_EQ(ext4->module, "ext4");
  auto gap = t->lookup(0xffffffff90000000ull);
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error().message,
            "no kernel text symbol at 0xffffffff90000000 (between kernel and modules)");

  auto bad = Kallsyms::parse("ffffffff81000000 T _text\nhello\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "line 2: not \"ADDRESS TYPE NAME [MODULE]\"");
}

// The last symbol of the machine's own table (a module's, or ftrace_trampoline's) must not
// cover the rest of the address space: `symbolize 0xffffffffffffffff` named
// ftrace_trampoline+0x3fdfefff.
TEST(Kallsyms, TheTopOfTheAddressSpaceIsNoSymbolsCode) {
  auto t = Kallsyms::load("/proc/kallsyms");
  ASSERT_TRUE(t) << t.error().message;
  if (t->addresses_hidden()) GTEST_SKIP() << "kernel addresses are hidden from this user";
  auto top = t->lookup(0xffffffffffffffffull);
  ASSERT_FALSE(top) << top->name << "+" << top->offset;
  EXPECT_EQ(top.error().message.rfind("no kernel text symbol at 0xffffffffffffffff", 0), 0u)
      << top.error().message;
}

}  // namespace
}  // namespace goscry
