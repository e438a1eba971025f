// Files goscry writes (record -o, dump -o, heap -o, leaks --leak-profile). Two rules:
// - checked before any work: an unusable path fails the verb at once, not after a 60 s
//   recording;
// - written safely: the bytes go to a new temp file in the target's own directory, created
//   with O_CREAT|O_EXCL|O_NOFOLLOW (a symlink planted at a predictable name cannot redirect
//   the write), then renamed over the target, so a reader never sees half a file.
#pragma once

#include <string>
#include <string_view>

#include "symbolizer/error.h"

namespace goscry {

// Whether `path` can be written: its directory exists and takes a new file, and `path` is not
// a directory or a device. The error names `what` and the path: "--output /nonexistent/x:
// directory /nonexistent does not exist".
Result<void> check_output_path(const std::string& path, const std::string& what);

// Replaces `path` with `bytes` as the header says; the error names the path and the cause.
Result<void> write_output_file(const std::string& path, std::string_view bytes);

// `-o PATH` of a verb that writes to stdout without one: "" and "-" are stdout, anything
// else write_output_file.
Result<void> write_output(const std::string& path, std::string_view bytes);

}  // namespace goscry
