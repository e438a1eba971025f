#include "exporters/gzip.h"

namespace goscry {

GzipStream::GzipStream(int level) {
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  ok_ = deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipStream::~GzipStream() {
  if (ok_) deflateEnd(&zs_);
}

bool GzipStream::deflate_into(std::string_view bytes, int flush, std::string& out) {
  if (!ok_) return false;
  zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  // Fed in pieces of at most 1 GiB: avail_in is 32 bits.
  std::size_t left = bytes.size();
  do {
    const uInt take = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
    zs_.avail_in = take;
    left -= take;
    const int f = left ? Z_NO_FLUSH : flush;
    do {
      const std::size_t had = out.size();
      out.resize(had + 64 * 1024);
      zs_.next_out = reinterpret_cast<Bytef*>(out.data() + had);
      zs_.avail_out = 64 * 1024;
      const int rc = deflate(&zs_, f);
      out.resize(out.size() - zs_.avail_out);
      if (rc == Z_STREAM_ERROR) return ok_ = false;
      if (rc == Z_STREAM_END) return true;
    } while (zs_.avail_out == 0 || (f == Z_FINISH));
  } while (left);
  return true;
}

bool GzipStream::append(std::string_view bytes, std::string& out) {
  return deflate_into(bytes, Z_NO_FLUSH, out);
}

bool GzipStream::finish(std::string& out) { return deflate_into({}, Z_FINISH, out); }

std::expected<std::string, std::string> gzip(std::string_view bytes, int level) {
  GzipStream z(level);
  std::string out;
  if (!z.append(bytes, out) || !z.finish(out))
    return std::unexpected(std::string("gzip: deflate failed"));
  return out;
}

}  // namespace goscry
