// What one uprobe hit costs by the kind of instruction it sits on (why goscry puts its
// creation and exit probes where symbolizer/emulated_probes.h says): spawnbench creates and
// ends goroutines alone and with one empty uprobe (goscry_noop) hit once per goroutine at
//  - the entry of gdestroy/goexit0, a CMP the kernel single-steps (two traps),
//  - the JBE right after it, which the kernel emulates (one trap),
//  - the RET of newproc1 (single-stepped),
//  - the place after newproc.func1's CALL of newproc1 goscry uses (emulated, or a 5-byte
//    NOP that 6.18 turns into a trampoline call without a trap).
// Prints the added ns per goroutine of each, median of ROUNDS interleaved runs.
//
//   ninja -C build probe_cost_bench && sudo build/tests/bench/probe_cost_bench [ROUNDS]
#include <cstdio>
#include <cstdlib>

#include "symbolizer/emulated_probes.h"
#include "symbolizer/ret_finder.h"
#include "tests/bench/bench_support.h"

using namespace goscry;

namespace {

struct Point {
  std::string label;
  std::vector<std::uint64_t> vaddrs;
};

std::span<const std::uint8_t> code_of(const GoBinary& bin, const FuncBounds& f) {
  auto bytes = bin.elf().read_vaddr(f.entry, f.end - f.entry);
  if (!bytes) throw std::runtime_error(bytes.error().message);
  return bytes->bytes();
}

FuncBounds function(const GoBinary& bin, const std::string& name) {
  auto f = bin.find_function(name);
  if (!f) throw std::runtime_error("no " + name);
  return *f;
}

std::vector<Point> points(const GoBinary& bin) {
  std::vector<Point> out;
  const auto exit = function(bin, bin.go_minor() >= 22 ? "runtime.gdestroy" : "runtime.goexit0");
  out.push_back({"exit: CMP at the entry (stepped)", {exit.entry}});
  if (auto jcc = stack_check_branch(code_of(bin, exit), exit.entry))
    out.push_back({"exit: JBE of the stack check (emulated)", {*jcc}});
  const auto newproc1 = function(bin, "runtime.newproc1");
  auto code = decode_function(bin.elf(), newproc1.entry, newproc1.end, newproc1.name);
  if (!code) throw std::runtime_error(code.error().message);
  Point rets{"create: RETs of newproc1 (stepped)", {}};
  for (auto off : code->rets) rets.vaddrs.push_back(newproc1.entry + off);
  out.push_back(rets);
  const auto func1 = function(bin, "runtime.newproc.func1");
  for (auto call : calls_to(code_of(bin, func1), func1.entry, newproc1.entry)) {
    auto p = result_after_call(code_of(bin, func1), func1.entry, call);
    if (!p) throw std::runtime_error(p.error().message);
    out.push_back({std::string("create: after the CALL in newproc.func1 (") +
                       probe_cost_name(p->cost) + ")",
                   {p->vaddr}});
  }
  return out;
}

double run_once(const std::string& path, const Point* point) {
  return bench::spawnbench_ns_per_goroutine(path, [&](int pid) -> std::shared_ptr<void> {
    if (!point) return nullptr;
    auto elf = ElfFile::open(path);
    if (!elf) throw std::runtime_error(elf.error().message);
    std::vector<UprobeRequest> at;
    for (auto vaddr : point->vaddrs)
      at.push_back({RuntimeProgram::Noop, "/proc/" + std::to_string(pid) + "/exe",
                    *(*elf)->vaddr_to_offset(vaddr), pid});
    return bench::attach_noop(at);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::string path = bench::fixture("spawnbench");
  auto bin = GoBinary::open(path);
  if (!bin) throw std::runtime_error(bin.error().message);
  const auto pts = points(**bin);
  std::vector<double> alone;
  std::vector<std::vector<double>> with(pts.size());
  for (int r = 0; r < rounds; ++r) {
    alone.push_back(run_once(path, nullptr));
    for (std::size_t i = 0; i < pts.size(); ++i) with[i].push_back(run_once(path, &pts[i]));
  }
  const double a = bench::median(alone);
  std::printf("%s: alone %.1f ns/goroutine (median of %d)\n", (*bin)->go_version().c_str(), a,
              rounds);
  for (std::size_t i = 0; i < pts.size(); ++i)
    std::printf("  %-55s +%.1f ns per hit\n", pts[i].label.c_str(), bench::median(with[i]) - a);
  return 0;
}
