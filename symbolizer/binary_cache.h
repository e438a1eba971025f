// A cache of opened binaries and of what was built from them (a Go function index, a
// native symbol table), shared by every target: a node runs the same binary in many
// containers, and indexing it once is the difference between a cheap and an expensive
// agent.
//
// Keys: the GNU build-id, else Go's build ID, plus the file size (a binary and its
// `strip`ped twin share a GNU build-id but not their symbols). A file with neither ID is
// keyed by path + device + inode + mtime. To avoid re-reading a file only to learn its
// build-id, each file's identity (device, inode, size, mtime from stat) remembers the key
// it had; a file replaced in place gets a new identity and is read again.
//
// Thread-safe. Entries beyond the capacity (a count, and the bytes of a budget when one is
// set: what the weigher says each payload holds) are evicted least recently used first; an
// evicted entry stays alive for holders of its shared_ptrs. The entry just inserted is
// never evicted by its own insertion: one binary over the whole budget is still served.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

// What stat says about a file: enough to notice that a path now holds another file.
struct FileIdentity {
  std::uint64_t dev = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  auto operator<=>(const FileIdentity&) const = default;
};

Result<FileIdentity> file_identity(const std::string& path);
// The cache key of an opened binary (see the file comment).
std::string binary_cache_key(const ElfFile& elf, const std::string& path, const FileIdentity& id);

struct BinaryCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t errors = 0;  // files that could not be opened or indexed
  std::size_t entries = 0;
  std::uint64_t bytes = 0;         // what the weigher says the entries hold
  std::uint64_t budget_bytes = 0;  // 0: no byte budget
};

template <typename Payload>
class BinaryCache {
 public:
  struct Entry {
    std::string key;
    std::shared_ptr<const ElfFile> elf;
    std::shared_ptr<const Payload> payload;
  };
  // Builds the payload of a newly opened binary; its error is returned by get().
  using Factory =
      std::function<Result<std::shared_ptr<const Payload>>(std::shared_ptr<const ElfFile>)>;

  // The bytes an entry's payload holds (its decoded tables), for the byte budget.
  using Weigher = std::function<std::uint64_t(const Payload&)>;

  BinaryCache(std::size_t capacity, Factory factory, Weigher weigher = nullptr)
      : capacity_(capacity == 0 ? 1 : capacity),
        factory_(std::move(factory)),
        weigher_(std::move(weigher)) {}

  // 0: no byte budget. Lowering it evicts at once down to it.
  void set_budget_bytes(std::uint64_t budget) {
    std::lock_guard lock(mu_);
    budget_bytes_ = budget;
    while (entries_.size() > 1 && over_budget()) evict_oldest();
  }

  // The entry for the file at `path` (a path we can open: /proc/PID/root/..., or
  // /proc/PID/map_files/... for a deleted file).
  Result<Entry> get(const std::string& path) {
    auto id = file_identity(path);
    if (!id) return count_error(id.error());
    if (auto hit = lookup_identity(*id)) return *hit;

    auto elf = ElfFile::open(path);
    if (!elf) return count_error(elf.error());
    std::string key = binary_cache_key(**elf, path, *id);
    if (auto hit = lookup_key(key, *id)) return *hit;

    // Built outside the lock: indexing a large binary takes tens of milliseconds and must
    // not stall lookups of other binaries. Two threads may build the same entry once each.
    std::shared_ptr<const ElfFile> shared_elf = *elf;
    auto payload = factory_(shared_elf);
    if (!payload) return count_error(context(payload.error(), path).error());
    return insert(Entry{key, shared_elf, *payload}, *id);
  }

  BinaryCacheStats stats() const {
    std::lock_guard lock(mu_);
    BinaryCacheStats s = stats_;
    s.entries = entries_.size();
    s.bytes = bytes_;
    s.budget_bytes = budget_bytes_;
    return s;
  }

 private:
  struct Slot {
    Entry entry;
    typename std::list<std::string>::iterator lru;
    std::uint64_t bytes = 0;
  };

  std::unexpected<Error> count_error(Error e) {
    std::lock_guard lock(mu_);
    ++stats_.errors;
    return std::unexpected(std::move(e));
  }

  std::optional<Entry> lookup_identity(const FileIdentity& id) {
    std::lock_guard lock(mu_);
    auto it = identities_.find(id);
    if (it == identities_.end()) return std::nullopt;
    return touch(it->second);
  }

  // Same content under another identity (another container's copy of the binary).
  std::optional<Entry> lookup_key(const std::string& key, const FileIdentity& id) {
    std::lock_guard lock(mu_);
    auto hit = touch(key);
    if (hit) identities_[id] = key;
    return hit;
  }

  // Called with mu_ held: a hit moves the entry to the front of the LRU list.
  std::optional<Entry> touch(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    ++stats_.hits;
    return it->second.entry;
  }

  Entry insert(Entry e, const FileIdentity& id) {
    std::lock_guard lock(mu_);
    ++stats_.misses;
    identities_[id] = e.key;
    if (auto it = entries_.find(e.key); it != entries_.end()) return it->second.entry;
    const std::uint64_t bytes = weigher_ && e.payload ? weigher_(*e.payload) : 0;
    lru_.push_front(e.key);
    entries_.emplace(e.key, Slot{e, lru_.begin(), bytes});
    bytes_ += bytes;
    while (entries_.size() > 1 && (entries_.size() > capacity_ || over_budget())) evict_oldest();
    return e;
  }

  bool over_budget() const { return budget_bytes_ != 0 && bytes_ > budget_bytes_; }

  void evict_oldest() {
    const std::string key = lru_.back();
    lru_.pop_back();
    auto slot = entries_.find(key);
    bytes_ -= slot->second.bytes;
    entries_.erase(slot);
    ++stats_.evictions;
    // Forget the identities that led to it, so the identity map stays bounded too.
    for (auto it = identities_.begin(); it != identities_.end();)
      it = it->second == key ? identities_.erase(it) : std::next(it);
  }

  const std::size_t capacity_;
  const Factory factory_;
  const Weigher weigher_;
  mutable std::mutex mu_;
  std::uint64_t budget_bytes_ = 0;
  std::uint64_t bytes_ = 0;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, Slot> entries_;
  std::map<FileIdentity, std::string> identities_;
  BinaryCacheStats stats_;
};

}  // namespace goscry
