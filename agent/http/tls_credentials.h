// A certificate chain and its private key, parsed and checked once. The HTTPS server hands
// the current pair to each handshake from a certificate callback, so SIGHUP can swap in a
// renewed certificate without touching the SSL_CTX that request threads are using.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "symbolizer/error.h"

namespace goscry {

class TlsCredentials {
 public:
  // Fails with one sentence naming the file: unreadable, not PEM, or a key that does not
  // belong to the certificate.
  static Result<std::shared_ptr<const TlsCredentials>> load(const std::string& cert_file,
                                                            const std::string& key_file);
  ~TlsCredentials();
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;

  // Puts the pair on one connection (from the certificate callback); false on failure.
  bool use_on(SSL* ssl) const;

 private:
  TlsCredentials() = default;

  X509* leaf_ = nullptr;
  STACK_OF(X509)* chain_ = nullptr;  // the intermediates after the leaf in cert_file
  EVP_PKEY* key_ = nullptr;
};

}  // namespace goscry
