#include "agent/goruntime/goroutine_memo.h"

namespace goscry {

StackSymbolizer& GoroutineMemo::symbolizer() {
  if (!symbolizer_) symbolizer_.emplace(target_);
  return *symbolizer_;
}

// The bound is checked as a read starts, never between a read and its symbolization,
// which share what the read looked up.
Result<GoroutineList> GoroutineMemo::read(ReadOptions opt) {
  if (remembered() > max_remembered_) symbolizer_.reset();
  opt.facts = symbolizer().facts();
  return read_goroutines(target_, opt);
}

std::vector<GoroutineView> GoroutineMemo::symbolize(std::vector<Goroutine> gs,
                                                    std::int64_t read_at) {
  return symbolize_goroutines(symbolizer(), std::move(gs), read_at);
}

}  // namespace goscry
