// HTTP basic authentication against bcrypt hashes (libxcrypt's crypt_rn, which knows
// $2a$/$2b$/$2y$). Comparisons are constant-time, and an unknown user costs a bcrypt run
// like a known one, so timing tells nothing about which names exist.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace goscry {

// Whether `hash` is a bcrypt hash crypt_rn can check.
bool is_bcrypt_hash(std::string_view hash);
// bcrypt(password, salt of hash) == hash, compared in constant time.
bool bcrypt_matches(std::string_view password, const std::string& hash);

class BasicAuth {
 public:
  explicit BasicAuth(std::map<std::string, std::string> users);
  bool enabled() const { return !users_.empty(); }
  // The value of an Authorization header ("Basic dXNlcjpwYXNz"); false when absent/wrong.
  bool allows(std::string_view authorization_header);

 private:
  bool check(const std::string& user, const std::string& password);

  std::map<std::string, std::string> users_;
  std::string dummy_hash_;
  // Credentials that passed, keyed by a SHA-256 of user, password and hash: bcrypt costs
  // tens of ms by design, too much for every scrape. Bounded; only successes are kept.
  std::mutex mu_;
  std::map<std::string, bool> good_;
};

}  // namespace goscry
