#include "agent/goruntime/profile_buckets.h"

#include <cstring>
#include <span>
#include <unordered_map>

namespace goscry {

namespace {

std::string who(const GoProcess& t) { return "pid " + std::to_string(t.pid()); }

std::uint64_t u64_at(const std::uint8_t* p, int offset) {
  std::uint64_t v;
  std::memcpy(&v, p + offset, sizeof v);
  return v;
}

// The target's memory in aligned blocks, each read once: the runtime allocates buckets one
// after another from persistentalloc chunks, so a walk of thousands of buckets touches a
// few blocks, one syscall each instead of one per bucket. Headers never change once a
// bucket is published, so a block read after the head holds every header reachable from
// it. A block that cannot be read whole (the end of a mapping) and reads beyond the cache's
// bound go to the target directly.
class BlockReader {
 public:
  explicit BlockReader(const Process& p) : p_(p) {}

  Result<void> read(std::uint64_t addr, std::span<std::uint8_t> out) {
    const std::uint64_t block = addr & ~(kBlock - 1);
    if (addr + out.size() <= block + kBlock)
      if (const auto* bytes = cached(block)) {
        std::memcpy(out.data(), bytes->data() + (addr - block), out.size());
        return {};
      }
    return p_.read_into(addr, out);
  }

 private:
  static constexpr std::uint64_t kBlock = 64 << 10;
  static constexpr std::size_t kMaxBlocks = 1024;  // 64 MiB at the most

  const std::vector<std::uint8_t>* cached(std::uint64_t block) {
    auto it = blocks_.find(block);
    if (it == blocks_.end()) {
      if (blocks_.size() == kMaxBlocks) return nullptr;
      auto bytes = p_.read(block, kBlock);
      it = blocks_.emplace(block, bytes ? std::move(*bytes) : std::vector<std::uint8_t>()).first;
    }
    return it->second.empty() ? nullptr : &it->second;
  }

  const Process& p_;
  std::unordered_map<std::uint64_t, std::vector<std::uint8_t>> blocks_;
};

}  // namespace

Result<void> check_bucket_layout(const GoProcess& t) {
  const RuntimeLayout& l = t.layout();
  for (int offset : {l.bucket_allnext, l.bucket_typ, l.bucket_size, l.bucket_nstk,
                     l.bucket_header})
    if (offset < 0)
      return fail(ErrorKind::Unsupported, who(t) + ": no layout of runtime.bucket for " +
                                              t.go_version() + " (" + l.source + ")");
  auto inside = [&](int offset) { return offset + 8 <= l.bucket_header; };
  if (l.bucket_header > 256 || !inside(l.bucket_allnext) || !inside(l.bucket_typ) ||
      !inside(l.bucket_size) || !inside(l.bucket_nstk))
    return fail(ErrorKind::Unsupported,
                who(t) + ": implausible layout of runtime.bucket (" + l.source + ")");
  return {};
}

Result<std::vector<BucketRef>> walk_buckets(const GoProcess& t, std::uint64_t head,
                                            const BucketWalk& w) {
  const RuntimeLayout& l = t.layout();
  const std::string what = w.profile + " profile bucket at ";
  std::vector<BucketRef> out;
  std::vector<std::uint8_t> header(std::size_t(l.bucket_header));
  std::size_t body_bytes = 0;
  BlockReader memory(t.process());
  for (std::uint64_t b = head; b != 0;) {
    if (out.size() == w.max_buckets)
      return fail(ErrorKind::Io, who(t) + ": the " + w.profile + " profile has more than " +
                                     std::to_string(w.max_buckets) +
                                     " buckets; goscry reads no more");
    if (auto r = memory.read(b, header); !r)
      return context(r.error(), who(t) + ": " + what + to_hex(b));
    const std::uint64_t typ = u64_at(header.data(), l.bucket_typ);
    const std::uint64_t nstk = u64_at(header.data(), l.bucket_nstk);
    if (typ != w.type)
      return fail(ErrorKind::Io, who(t) + ": " + what + to_hex(b) + " has type " +
                                     std::to_string(typ) + ", not " + std::to_string(w.type));
    if (nstk > w.max_frames)
      return fail(ErrorKind::Io, who(t) + ": " + what + to_hex(b) + " claims " +
                                     std::to_string(nstk) + " frames, more than the runtime's " +
                                     std::to_string(w.max_frames));
    body_bytes += nstk * 8 + w.record_bytes;
    if (body_bytes > w.max_body_bytes)
      return fail(ErrorKind::Io, who(t) + ": the " + w.profile + " profile's buckets exceed " +
                                     std::to_string(w.max_body_bytes >> 20) +
                                     " MiB; goscry reads no more");
    out.push_back({b, nstk, std::int64_t(u64_at(header.data(), l.bucket_size))});
    b = u64_at(header.data(), l.bucket_allnext);
  }
  return out;
}

}  // namespace goscry
