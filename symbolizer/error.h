// Errors are values: every failure a user can cause (a bad PID, a corrupt binary, a
// missing permission) travels up as an Error whose message names the object and the cause,
// e.g. "/proc/4242/exe: not a Go binary (no .gopclntab, no .go.buildinfo)".
#pragma once

#include <cstdint>
#include <cstdio>
#include <expected>
#include <string>
#include <utility>

namespace goscry {

struct Error {
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected<Error>(Error{std::move(message)});
}

// Prefixes the error with the object it concerns ("path: ...") while keeping values.
template <typename T>
Result<T> context(Result<T> r, const std::string& what) {
  if (!r) return fail(what + ": " + r.error().message);
  return r;
}

// "0x4a2f10": addresses in messages are always hex.
inline std::string to_hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace goscry
