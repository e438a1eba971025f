// The runtime's profile bucket lists (runtime/mprof.go): mbuckets (heap), bbuckets (block)
// and xbuckets (mutex) are each a list of `bucket`s linked by allnext, one per stack, whose
// header says its type, its stack's length and (heap) the object size; the stack and the
// record follow the header (docs/go-runtime.md "The heap profile", "The block and mutex
// profiles"). Walked the same way for all three.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "symbolizer/error.h"
#include "symbolizer/runtime_globals.h"  // CodeRange

namespace goscry {

// A bucket of a list: where it is and what its header says.
struct BucketRef {
  std::uint64_t addr = 0;
  std::uint64_t nstk = 0;
  std::int64_t size = 0;  // the heap's object size; 0 in block and mutex buckets
};

struct BucketWalk {
  std::string profile;            // "heap", "block", "mutex": for messages
  std::uint64_t type = 0;         // bucketType: 1 memProfile, 2 blockProfile, 3 mutexProfile
  std::size_t record_bytes = 0;   // what follows each stack (memRecord, blockRecord)
  std::size_t max_buckets = 0;
  std::size_t max_frames = 0;
  std::size_t max_body_bytes = 0;  // stacks and records of the whole list
};

// The layout of runtime.bucket comes from the binary's DWARF, as untrusted as the rest of
// it: every word goscry reads must lie inside the header it reads.
Result<void> check_bucket_layout(const GoProcess& t);

// Follows allnext from `head`. Buckets are never freed nor relinked and new ones are pushed
// at the head, so the list from one head is a fixed set however the target runs on.
Result<std::vector<BucketRef>> walk_buckets(const GoProcess& t, std::uint64_t head,
                                            const BucketWalk& w);

// The distinct pcs of the stacks of a profile's records (heap, block, mutex), sorted: each
// is symbolized once however many stacks hold it.
template <typename Records>
std::vector<std::uint64_t> distinct_pcs(const Records& records) {
  std::vector<std::uint64_t> pcs;
  for (const auto& r : records.records) pcs.insert(pcs.end(), r.stack.begin(), r.stack.end());
  std::sort(pcs.begin(), pcs.end());
  pcs.erase(std::unique(pcs.begin(), pcs.end()), pcs.end());
  return pcs;
}

}  // namespace goscry
