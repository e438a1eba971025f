// Reading a whole file under /proc: these files report a size of 0, so they are read
// until EOF, with a cap so that a huge file (maps of a process with millions of
// mappings) cannot exhaust our memory. And splitting its lines into fields.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "symbolizer/error.h"

namespace goscry {

// The contents of `path`. The error names the path and errno's text; a missing
// /proc/PID/... file is reported as "no process with pid PID" by the callers that know.
Result<std::string> read_proc_file(const std::string& path, std::size_t max_bytes = 256u << 20);

// The rest of an open file, read as read_proc_file does (until EOF, capped); `path` names it
// in errors. The caller keeps and closes `fd`.
Result<std::string> read_open_file(int fd, const std::string& path,
                                   std::size_t max_bytes = 256u << 20);

// Splits off the next field of a /proc line: skips leading `separators`, returns what
// runs up to the next one (empty at the end of the line) and leaves `line` after it.
std::string_view next_field(std::string_view* line, std::string_view separators = " ");

// Why `pid` cannot be a target although its number was given: "no process with pid N",
// "pid N has exited (a zombie its parent has not reaped yet)" or "pid N is a kernel thread,
// not a program" (zombies and kernel threads used to be "no process"): NotFound, TargetGone
// or Unsupported.
Error why_no_process(int pid);

// The kernel refused to show `file` of /proc/`pid` (EACCES/EPERM: ptrace access mode):
// "permission denied reading /proc/4242/mem: <why>", where why is what a user can act on —
// "run as root or grant CAP_SYS_PTRACE" only when that is the missing piece; root without
// CAP_SYS_PTRACE, Yama's scope 3, or a refusal despite the capability are named as such.
Error access_denied(int pid, const std::string& file, int err);

}  // namespace goscry
