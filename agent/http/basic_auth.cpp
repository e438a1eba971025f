#include "agent/http/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>
#include <memory>
#include <optional>
#include <strings.h>

namespace goscry {
namespace {

std::string sha256(const std::string& s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  return std::string(reinterpret_cast<char*>(md), sizeof md);
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && pad < 2; --i) ++pad;
  out.resize(size_t(n) - pad);
  return out;
}

}  // namespace

bool is_bcrypt_hash(std::string_view hash) {
  // $2?$NN$ + 53 characters of salt and digest.
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' ||
      hash[6] != '$')
    return false;
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') return false;
  auto data = std::make_unique<crypt_data>();
  return crypt_rn("", std::string(hash).c_str(), data.get(), sizeof *data) != nullptr;
}

bool bcrypt_matches(std::string_view password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  std::string pw(password);
  // crypt_rn returns NULL (never a "*0" string) when the setting is invalid.
  const char* out = crypt_rn(pw.c_str(), hash.c_str(), data.get(), sizeof *data);
  if (out == nullptr) return false;
  size_t n = std::strlen(out);
  return n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {
  // The hash an unknown user is checked against: same cost as a real user's, so an unknown
  // name takes as long as a wrong password.
  if (users_.empty()) return;
  auto data = std::make_unique<crypt_data>();
  std::string salt = users_.begin()->second.substr(0, 29);
  if (const char* h = crypt_rn("goscry: no such user", salt.c_str(), data.get(), sizeof *data))
    dummy_hash_ = h;
}

bool BasicAuth::allows(std::string_view header) {
  constexpr std::string_view kScheme = "Basic ";
  if (header.size() <= kScheme.size() ||
      strncasecmp(header.data(), kScheme.data(), kScheme.size()) != 0)
    return false;
  auto decoded = base64_decode(header.substr(kScheme.size()));
  if (!decoded) return false;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  return check(decoded->substr(0, colon), decoded->substr(colon + 1));
}

bool BasicAuth::check(const std::string& user, const std::string& password) {
  auto it = users_.find(user);
  const std::string& hash = it != users_.end() ? it->second : dummy_hash_;
  std::string key = sha256(user + '\0' + password + '\0' + hash);
  {
    std::lock_guard lock(mu_);
    if (good_.contains(key)) return true;
  }
  bool ok = bcrypt_matches(password, hash) && it != users_.end();
  if (ok) {
    std::lock_guard lock(mu_);
    if (good_.size() >= 1024) good_.clear();
    good_[key] = true;
  }
  return ok;
}

}  // namespace goscry
