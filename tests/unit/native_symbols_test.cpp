#include "symbolizer/native_symbols.h"

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "symbolizer/proc_maps.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/objdump.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::LiveProcess;
using testing::nm_functions;
using testing::run_command;

std::uint64_t nm_address(const std::map<std::uint64_t, std::set<std::string>>& table,
                         const std::string& name) {
  for (const auto& [addr, names] : table)
    if (names.contains(name)) return addr;
  ADD_FAILURE() << "nm has no " << name;
  return 0;
}

TEST(NativeSymbols, ResolvesLibcAndCgoFunctionsInALiveProcessLikeNm) {
  std::size_t checked = 0;
  for (const auto& f : all_fixtures("cgo_native")) {
    if (f.variant != "cgo") continue;
    SCOPED_TRACE(f.label());
    auto live = LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(live) << live.error().message;
    auto maps = ProcMaps::read((*live)->pid());
    ASSERT_TRUE(maps) << maps.error().message;

    // libc: its load base as the dynamic loader reports it, plus getpid's address from
    // `nm -D`, is where getpid runs; we must find getpid there through maps + .dynsym.
    std::uint64_t libc_base = testing::printed_address((*live)->output(), "libc-base");
    const Mapping* libc_map = maps->find(libc_base);
    ASSERT_NE(libc_map, nullptr);
    std::string libc_path = libc_map->file_path();
    ASSERT_NE(libc_path.find("/libc.so"), std::string::npos) << libc_path;
    auto libc_nm = nm_functions(libc_path, true);
    for (const char* fn : {"getpid", "write", "malloc", "pthread_create"}) {
      SCOPED_TRACE(fn);
      std::uint64_t vaddr = nm_address(libc_nm, fn);
      std::uint64_t pc = libc_base + vaddr + 3;  // inside the function, not at its entry
      auto elf = ElfFile::open(maps->host_path(*maps->find(pc)));
      ASSERT_TRUE(elf) << elf.error().message;
      auto where = maps->module_address(pc, elf->get());
      ASSERT_TRUE(where) << where.error().message;
      EXPECT_EQ(where->path, libc_path);
      EXPECT_EQ(where->elf_vaddr, vaddr + 3);
      NativeSymbols symbols(*elf);
      auto sym = symbols.lookup(*where->elf_vaddr);
      ASSERT_TRUE(sym) << sym.error().message;
      EXPECT_EQ(sym->address, vaddr);
      EXPECT_EQ(sym->offset, 3u);
      EXPECT_TRUE(libc_nm[vaddr].contains(sym->name)) << sym->name << " is not an alias of " << fn;
      ++checked;
    }

    // The fixture's own C function, from the executable's .symtab.
    std::uint64_t add_pc = testing::printed_address((*live)->output(), "native goscry_native_add");
    auto exe = ElfFile::open(f.path);
    ASSERT_TRUE(exe);
    auto where = maps->module_address(add_pc, exe->get());
    ASSERT_TRUE(where) << where.error().message;
    EXPECT_EQ(where->path, std::filesystem::canonical(f.path).string());
    NativeSymbols exe_symbols(*exe);
    auto add = exe_symbols.lookup(*where->elf_vaddr);
    ASSERT_TRUE(add) << add.error().message;
    EXPECT_EQ(add->name, "goscry_native_add");
    EXPECT_EQ(add->address, nm_address(nm_functions(f.path, false), "goscry_native_add"));
  }
  EXPECT_GT(checked, 0u) << "no cgo fixture was built";
}

// c++filt spells out the standard abbreviations (Ss, Si, So, Sd) that __cxa_demangle
// keeps short ("std::string"); expanding them compares the rest exactly.
std::string expand_std_abbreviations(std::string s) {
  const std::pair<std::string, std::string> forms[] = {
      {"std::string", "std::basic_string<char, std::char_traits<char>, std::allocator<char> >"},
      {"std::istream", "std::basic_istream<char, std::char_traits<char> >"},
      {"std::ostream", "std::basic_ostream<char, std::char_traits<char> >"},
      {"std::iostream", "std::basic_iostream<char, std::char_traits<char> >"}};
  for (const auto& [short_form, long_form] : forms) {
    for (std::size_t at = 0; (at = s.find(short_form, at)) != std::string::npos;) {
      std::size_t end = at + short_form.size();
      bool word_end =
          end == s.size() || !(std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_');
      if (!word_end) {
        at = end;
        continue;
      }
      s.replace(at, short_form.size(), long_form);
      at += long_form.size();
    }
  }
  // ...and writes "> >" where __cxa_demangle writes ">>".
  for (std::size_t at; (at = s.find("> >")) != std::string::npos;) s.erase(at + 1, 1);
  return s;
}

// libstdc++'s exported C++ functions, demangled by us and by binutils' c++filt.
TEST(NativeSymbols, DemanglesCppNamesLikeCxxFilt) {
  std::string libstdcxx;
  auto self = ProcMaps::read(getpid());
  ASSERT_TRUE(self) << self.error().message;
  for (const auto& m : self->mappings())
    if (m.path.find("/libstdc++.so") != std::string::npos) libstdcxx = m.path;
  ASSERT_FALSE(libstdcxx.empty()) << "this test binary links libstdc++";
  auto elf = ElfFile::open(libstdcxx);
  ASSERT_TRUE(elf) << elf.error().message;
  NativeSymbols symbols(*elf);
  ASSERT_GT(symbols.size(), 1000u);

  std::vector<std::string> mangled;
  for (const auto& s : (*elf)->symbols())
    if (s.name.starts_with("_Z") && s.value != 0) mangled.push_back(s.name);
  ASSERT_GT(mangled.size(), 1000u);
  std::string input;
  for (const auto& m : mangled) input += m + "\n";
  auto filt = run_command({"c++filt"}, input);
  ASSERT_EQ(filt.exit_code, 0) << filt.err;
  auto expected = testing::split_lines(filt.out);
  ASSERT_EQ(expected.size(), mangled.size());
  std::size_t demangled = 0;
  for (std::size_t i = 0; i < mangled.size(); ++i) {
    EXPECT_EQ(expand_std_abbreviations(demangle(mangled[i])), expand_std_abbreviations(expected[i]))
        << mangled[i];
    demangled += expected[i] != mangled[i];
  }
  EXPECT_GT(demangled, 1000u);
  EXPECT_EQ(demangle("main"), "main");
  EXPECT_EQ(demangle("_Znot_valid"), "_Znot_valid");

  // A lookup gives the demangled name and keeps the mangled one.
  auto now = symbols.address_of("_ZNSt6chrono3_V212system_clock3nowEv");
  ASSERT_TRUE(now) << now.error().message;
  auto sym = symbols.lookup(*now + 1);
  ASSERT_TRUE(sym) << sym.error().message;
  EXPECT_EQ(sym->name, "std::chrono::_V2::system_clock::now()");
  EXPECT_EQ(sym->mangled, "_ZNSt6chrono3_V212system_clock3nowEv");
}

TEST(NativeSymbols, AddressesOutsideFunctionsAreErrors) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto elf = ElfFile::open(fixtures.front().path);
  ASSERT_TRUE(elf);
  NativeSymbols symbols(*elf);
  auto none = symbols.lookup(0x10);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, fixtures.front().path + ": no function symbol at 0x10");
  auto missing = symbols.address_of("no_such_function");
  ASSERT_FALSE(missing);
}

}  // namespace
}  // namespace goscry
