// A bounds-checked view over untrusted bytes. Every parser of a binary (ELF sections,
// .go.buildinfo, .gopclntab) reads through it: an offset or length out of range gives an
// error value, never a read past the end. There is no raw pointer arithmetic on file
// contents anywhere else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "symbolizer/error.h"

namespace goscry {

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::size_t size() const { return bytes_.size(); }
  std::span<const std::uint8_t> bytes() const { return bytes_; }

  bool contains(std::uint64_t off, std::uint64_t len) const {
    return off <= bytes_.size() && len <= bytes_.size() - off;
  }

  // A sub-view [off, off+len); fails when it does not fit.
  Result<ByteReader> sub(std::uint64_t off, std::uint64_t len) const {
    if (!contains(off, len)) return out_of_range(off, len);
    return ByteReader(bytes_.subspan(off, len));
  }
  // A sub-view from off to the end.
  Result<ByteReader> from(std::uint64_t off) const {
    if (off > bytes_.size()) return out_of_range(off, 0);
    return ByteReader(bytes_.subspan(off));
  }

  Result<std::uint8_t> u8(std::uint64_t off) const { return read<std::uint8_t>(off); }
  Result<std::uint16_t> u16(std::uint64_t off) const { return read<std::uint16_t>(off); }
  Result<std::uint32_t> u32(std::uint64_t off) const { return read<std::uint32_t>(off); }
  Result<std::uint64_t> u64(std::uint64_t off) const { return read<std::uint64_t>(off); }
  Result<std::int32_t> i32(std::uint64_t off) const { return read<std::int32_t>(off); }

  // A pointer-sized little-endian unsigned integer (4 or 8 bytes).
  Result<std::uint64_t> uptr(std::uint64_t off, unsigned ptr_size) const {
    if (ptr_size == 8) return u64(off);
    if (ptr_size == 4) {
      auto v = u32(off);
      if (!v) return std::unexpected(v.error());
      return *v;
    }
    return fail(ErrorKind::Unsupported, "unsupported pointer size " + std::to_string(ptr_size));
  }

  // A NUL-terminated string starting at off, at most max_len bytes long.
  Result<std::string_view> cstring(std::uint64_t off, std::size_t max_len = 1 << 16) const {
    if (off >= bytes_.size()) return out_of_range(off, 1);
    std::size_t limit = std::min<std::size_t>(bytes_.size() - off, max_len);
    const auto* start = reinterpret_cast<const char*>(bytes_.data() + off);
    const void* nul = std::memchr(start, 0, limit);
    if (nul == nullptr)
      return fail(ErrorKind::Unsupported, "unterminated string at offset " + std::to_string(off));
    return std::string_view(start, static_cast<const char*>(nul) - start);
  }

  Result<std::string_view> string(std::uint64_t off, std::uint64_t len) const {
    if (!contains(off, len)) return out_of_range(off, len);
    return std::string_view(reinterpret_cast<const char*>(bytes_.data() + off), len);
  }

  // An unsigned LEB128 varint as Go writes it; advances *off past it.
  Result<std::uint64_t> uvarint(std::uint64_t* off) const {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      auto b = u8(*off);
      if (!b) return std::unexpected(b.error());
      ++*off;
      v |= std::uint64_t(*b & 0x7f) << shift;
      if ((*b & 0x80) == 0) return v;
    }
    return fail(ErrorKind::Unsupported, "varint too long at offset " + std::to_string(*off));
  }

 private:
  template <typename T>
  Result<T> read(std::uint64_t off) const {
    if (!contains(off, sizeof(T))) return out_of_range(off, sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + off, sizeof(T));  // little-endian hosts only (x86_64, arm64)
    return v;
  }

  std::unexpected<Error> out_of_range(std::uint64_t off, std::uint64_t len) const {
    return fail(ErrorKind::Unsupported, "read of " + std::to_string(len) + " bytes at offset " +
                                            std::to_string(off) + " is outside the " +
                                            std::to_string(bytes_.size()) + "-byte buffer");
  }

  std::span<const std::uint8_t> bytes_;
};

}  // namespace goscry
