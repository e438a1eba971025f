#include "agent/goruntime/pprof_labels.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace goscry {
namespace {

struct GoString {
  std::uint64_t ptr = 0, len = 0;
};

Result<std::string> read_string(const Process& p, GoString s) {
  if (s.len == 0) return std::string();
  if (s.len > kMaxLabelBytes)
    return fail(ErrorKind::Io, "label string of " + std::to_string(s.len) + " bytes");
  auto bytes = p.read(s.ptr, s.len);
  if (!bytes) return std::unexpected(bytes.error());
  return std::string(bytes->begin(), bytes->end());
}

Result<std::pair<std::string, std::string>> read_pair(const Process& p, GoString k, GoString v) {
  auto key = read_string(p, k);
  if (!key) return std::unexpected(key.error());
  auto value = read_string(p, v);
  if (!value) return std::unexpected(value.error());
  return std::make_pair(std::move(*key), std::move(*value));
}

GoString string_at(const std::vector<std::uint8_t>& b, std::size_t off) {
  GoString s;
  std::memcpy(&s.ptr, b.data() + off, 8);
  std::memcpy(&s.len, b.data() + off + 8, 8);
  return s;
}

// Go 1.24+: labelMap{LabelSet{list []label}}, label = {key, value string} (32 bytes).
Result<PprofLabels> read_slice_labels(const Process& p, std::uint64_t labels) {
  auto hdr = p.read(labels, 16);  // slice pointer and length
  if (!hdr) return std::unexpected(hdr.error());
  GoString list = string_at(*hdr, 0);
  if (list.len > kMaxLabels)
    return fail(ErrorKind::Io, "label set of " + std::to_string(list.len) + " labels");
  PprofLabels out;
  if (list.len == 0) return out;
  auto elems = p.read(list.ptr, list.len * 32);
  if (!elems) return std::unexpected(elems.error());
  for (std::size_t i = 0; i < list.len; ++i) {
    auto kv = read_pair(p, string_at(*elems, i * 32), string_at(*elems, i * 32 + 16));
    if (!kv) return std::unexpected(kv.error());
    out.push_back(std::move(*kv));
  }
  return out;
}

// Go <= 1.23: *labelMap -> *hmap {count int; flags, B uint8; noverflow uint16; hash0
// uint32; buckets, oldbuckets unsafe.Pointer; ...}. A map that grew while it was filled
// may still have entries in oldbuckets (evacuation is incremental): both arrays are read,
// cells whose tophash says "evacuated" or "empty" (< minTopHash = 5) skipped.
Result<PprofLabels> read_map_labels(const Process& p, std::uint64_t labels) {
  auto hmap = p.read_u64(labels);
  if (!hmap) return std::unexpected(hmap.error());
  if (*hmap == 0) return PprofLabels{};
  auto h = p.read(*hmap, 32);
  if (!h) return std::unexpected(h.error());
  std::uint64_t count = 0, buckets = 0, old = 0;
  std::memcpy(&count, h->data(), 8);
  const unsigned b = (*h)[9];
  std::memcpy(&buckets, h->data() + 16, 8);
  std::memcpy(&old, h->data() + 24, 8);
  if (count > kMaxLabels || b > 8)
    return fail(ErrorKind::Io, "label map of " + std::to_string(count) + " labels");
  constexpr std::size_t kBucket = 272, kOverflow = 264;
  std::map<std::string, std::string> found;
  auto read_array = [&](std::uint64_t array, std::uint64_t n) -> Result<void> {
    for (std::uint64_t i = 0; array && i < n; ++i) {
      std::uint64_t at = array + i * kBucket;
      for (int chain = 0; at && chain < 8; ++chain) {
        auto bucket = p.read(at, kBucket);
        if (!bucket) return std::unexpected(bucket.error());
        for (int cell = 0; cell < 8; ++cell) {
          if ((*bucket)[cell] < 5) continue;
          auto kv = read_pair(p, string_at(*bucket, 8 + cell * 16), string_at(*bucket, 136 + cell * 16));
          if (!kv) return std::unexpected(kv.error());
          found.insert(std::move(*kv));
          if (found.size() > kMaxLabels)
            return fail(ErrorKind::Io, "label map of more than 64 labels");
        }
        std::memcpy(&at, bucket->data() + kOverflow, 8);
      }
    }
    return {};
  };
  if (auto r = read_array(buckets, std::uint64_t{1} << b); !r) return std::unexpected(r.error());
  if (auto r = read_array(old, b ? std::uint64_t{1} << (b - 1) : 0); !r) return std::unexpected(r.error());
  return PprofLabels(found.begin(), found.end());
}

}  // namespace

Result<PprofLabels> read_pprof_labels(const Process& target, int go_minor, std::uint64_t labels) {
  if (labels == 0) return PprofLabels{};
  auto r = go_minor >= 24 ? read_slice_labels(target, labels) : read_map_labels(target, labels);
  if (!r) return context(r.error(), "labels at " + to_hex(labels));
  if (go_minor >= 24) std::sort(r->begin(), r->end());
  return r;
}

}  // namespace goscry
