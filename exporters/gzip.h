// gzip (RFC 1952), as pprof expects on disk and over HTTP and as HTTP clients accept with
// Accept-Encoding: gzip. Whole (gzip()) or as a stream of pieces (GzipStream), so that a
// long answer is compressed while it is written and never held whole.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <expected>
#include <string>
#include <string_view>

namespace goscry {

class GzipStream {
 public:
  // Level 1 gives most of the gain for a fraction of level 6's CPU (live answers use it).
  explicit GzipStream(int level = 6);
  ~GzipStream();
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  // Compresses `bytes` and appends what zlib has ready to `out` (zlib keeps up to its window
  // back, so small inputs may append nothing yet). False if zlib failed.
  bool append(std::string_view bytes, std::string& out);
  // Appends the rest and the gzip trailer; nothing may be appended after.
  bool finish(std::string& out);

 private:
  bool deflate_into(std::string_view bytes, int flush, std::string& out);
  z_stream zs_{};
  bool ok_ = false;
};

std::expected<std::string, std::string> gzip(std::string_view bytes, int level = 6);

}  // namespace goscry
