// Errors are values: every failure a user can cause (a bad PID, a corrupt binary, a
// missing permission) travels up as an Error whose message names the object and the cause,
// e.g. "/proc/4242/exe: not a Go binary (no .gopclntab, no .go.buildinfo)". Its kind says
// what went wrong for a program (the verbs' exit status, agent/base/exit_codes.h): it is
// set where the failure happens and kept on the way up, so no caller reads the message.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace goscry {

enum class ErrorKind : std::uint8_t {
  NotFound,     // no such process, file, symbol or section
  Permission,   // the kernel said no (EPERM, EACCES, ptrace restrictions)
  Unsupported,  // not a Go binary, a Go version, architecture or kernel goscry cannot read
  BadInput,     // the command line, a config or an address the user gave is wrong
  TargetGone,   // the process was there and exited while goscry read it
  Io,           // a read or write failed for another reason (ENOSPC, EIO, short reads)
};

struct Error {
  ErrorKind kind;
  std::string message;
  int error_number = 0;  // the errno behind it, 0 when none
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorKind kind, std::string message) {
  return std::unexpected<Error>(Error{kind, std::move(message), 0});
}

// The kind an errno from a read of /proc, a file, ptrace or process_vm_readv means.
constexpr ErrorKind kind_of_errno(int err) {
  switch (err) {
    case ENOENT:
      return ErrorKind::NotFound;
    case EACCES:
    case EPERM:
      return ErrorKind::Permission;
    case ESRCH:
      return ErrorKind::TargetGone;
    default:
      return ErrorKind::Io;
  }
}

// "what: <strerror(err)>", its kind chosen from the errno.
inline std::unexpected<Error> fail_errno(int err, const std::string& what) {
  return std::unexpected<Error>(Error{kind_of_errno(err), what + ": " + std::strerror(err), err});
}

// The same failure seen from the object it concerns ("what: ..."): kind and errno kept.
inline std::unexpected<Error> context(const Error& e, const std::string& what) {
  return std::unexpected<Error>(Error{e.kind, what + ": " + e.message, e.error_number});
}

// Prefixes the error with the object it concerns ("path: ...") while keeping values.
template <typename T>
Result<T> context(Result<T> r, const std::string& what) {
  if (!r) return context(r.error(), what);
  return r;
}

// "0x4a2f10": addresses in messages are always hex.
inline std::string to_hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace goscry
