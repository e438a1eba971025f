// pprof encoding cost for a CPU profile of realistic shape: 10,000 samples over 2,000
// distinct locations (30-frame stacks, some inlined), serialized and gzipped.
#include <benchmark/benchmark.h>

#include "exporters/pprof.h"

namespace {

using namespace goscry::pprof;

ProfileBuilder build(int samples) {
  ProfileBuilder b({{"samples", "count"}, {"cpu", "nanoseconds"}});
  b.set_period({"cpu", "nanoseconds"}, 10101010);
  std::uint64_t m =
      b.add_mapping({0x400000, 0x2000000, 0, "/srv/app", "abcdef", true, true, true, true});
  std::vector<std::uint64_t> locs;
  for (int i = 0; i < 2000; ++i) {
    Location loc{m, 0x400000 + 16u * i, {}, false};
    if (i % 5 == 0)
      loc.lines.push_back(
          {{"pkg.inlined" + std::to_string(i % 300), "", "/src/a.go", 10}, i % 97, 0});
    loc.lines.push_back({{"pkg.(*T).M" + std::to_string(i % 700), "", "/src/b.go", 20}, i % 89, 0});
    locs.push_back(b.add_location(loc));
  }
  for (int s = 0; s < samples; ++s) {
    std::vector<std::uint64_t> stack;
    for (int d = 0; d < 30; ++d) stack.push_back(locs[(s * 31 + d * 17) % locs.size()]);
    b.add_sample(stack, {1, 10101010}, {Label::number("goid", s % 500)});
  }
  return b;
}

void BM_BuildAndGzipCpuProfile(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) {
    ProfileBuilder b = build(10000);
    auto gz = b.serialize_gzip();
    bytes = gz->size();
    benchmark::DoNotOptimize(gz);
  }
  state.counters["gzip_bytes"] = double(bytes);
}
BENCHMARK(BM_BuildAndGzipCpuProfile)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
