// Files goscry writes (record -o, dump -o, heap -o, leaks --leak-profile). Two rules:
// - checked before any work: an unusable path fails the verb at once, not after a 60 s
//   recording;
// - written safely: the bytes go to a new temp file in the target's own directory, created
//   with O_CREAT|O_EXCL|O_NOFOLLOW (a symlink planted at a predictable name cannot redirect
//   the write), then renamed over the target, so a reader never sees half a file.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "symbolizer/error.h"

namespace goscry {

// Whether `path` can be written: its directory exists and takes a new file, and `path` is not
// a directory or a device. The error names `what` and the path: "--output /nonexistent/x:
// directory /nonexistent does not exist".
Result<void> check_output_path(const std::string& path, const std::string& what);

// The size of the pieces a long output is made in: one at a time is held.
constexpr std::size_t kOutputPiece = 64 * 1024;
// Takes the pieces of an output as they are made; false stops the writer (a write failed,
// the reader went away).
using PieceSink = std::function<bool(std::string_view)>;
// Makes an output piece by piece into a sink, so that a large one (the tracebacks of a
// million goroutines) is never held whole; false when the sink stopped it.
using PieceWriter = std::function<bool(const PieceSink&)>;

// Replaces `path` with what `writer` makes, as the header says; the error names the path and
// the cause.
Result<void> write_output_file(const std::string& path, const PieceWriter& writer);
Result<void> write_output_file(const std::string& path, std::string_view bytes);

// `-o PATH` of a verb that writes to stdout without one: "" and "-" are stdout, anything
// else write_output_file.
Result<void> write_output(const std::string& path, const PieceWriter& writer);
Result<void> write_output(const std::string& path, std::string_view bytes);

}  // namespace goscry
