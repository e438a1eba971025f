#include "agent/http/tls_credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace goscry {
namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "not PEM";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

Bio open_file(const std::string& path) { return Bio(BIO_new_file(path.c_str(), "r"), BIO_free); }

}  // namespace

Result<std::shared_ptr<const TlsCredentials>> TlsCredentials::load(const std::string& cert_file,
                                                                   const std::string& key_file) {
  std::shared_ptr<TlsCredentials> c(new TlsCredentials);
  Bio certs = open_file(cert_file);
  if (certs) c->leaf_ = PEM_read_bio_X509_AUX(certs.get(), nullptr, nullptr, nullptr);
  if (!c->leaf_)
    return fail("cert_file " + cert_file + ": cannot load certificate: " + openssl_error());
  c->chain_ = sk_X509_new_null();
  while (X509* x = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr))
    sk_X509_push(c->chain_, x);
  ERR_clear_error();  // the loop ends on "no start line"
  Bio key = open_file(key_file);
  if (key) c->key_ = PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr);
  if (!c->key_)
    return fail("key_file " + key_file + ": cannot load private key: " + openssl_error());
  if (X509_check_private_key(c->leaf_, c->key_) != 1) {
    ERR_clear_error();
    return fail("key_file " + key_file + " does not match cert_file " + cert_file);
  }
  return c;
}

TlsCredentials::~TlsCredentials() {
  X509_free(leaf_);
  sk_X509_pop_free(chain_, X509_free);
  EVP_PKEY_free(key_);
}

bool TlsCredentials::use_on(SSL* ssl) const {
  // override = 1: replace whatever the connection had.
  return SSL_use_cert_and_key(ssl, leaf_, key_, chain_, 1) == 1;
}

}  // namespace goscry
