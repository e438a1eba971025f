#include "agent/http/tls_credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "symbolizer/input_file.h"

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

// The PEM bytes of a bounded, regular file (symbolizer/input_file.h: a FIFO named as
// cert_file blocked the reload thread, and with it SIGHUP and SIGTERM).
Result<std::string> read_pem(const std::string& path, const std::string& what) {
  return read_input_file(path, what, 1u << 20);
}

Bio memory_bio(const std::string& bytes) {
  return Bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())), BIO_free);
}

}  // namespace

Result<std::shared_ptr<const TlsCredentials>> TlsCredentials::load(const std::string& cert_file,
                                                                   const std::string& key_file) {
  std::shared_ptr<TlsCredentials> c(new TlsCredentials);
  auto cert_pem = read_pem(cert_file, "cert_file");
  if (!cert_pem) return std::unexpected(cert_pem.error());
  auto key_pem = read_pem(key_file, "key_file");
  if (!key_pem) return std::unexpected(key_pem.error());
  Bio certs = memory_bio(*cert_pem);
  if (certs) c->leaf_ = PEM_read_bio_X509_AUX(certs.get(), nullptr, nullptr, nullptr);
  if (!c->leaf_)
    return fail(ErrorKind::BadInput,
                "cert_file " + cert_file + ": cannot load certificate: " + openssl_error());
  c->chain_ = sk_X509_new_null();
  while (X509* x = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr))
    sk_X509_push(c->chain_, x);
  ERR_clear_error();  // the loop ends on "no start line"
  Bio key = memory_bio(*key_pem);
  if (key) c->key_ = PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr);
  if (!c->key_)
    return fail(ErrorKind::BadInput,
                "key_file " + key_file + ": cannot load private key: " + openssl_error());
  if (X509_check_private_key(c->leaf_, c->key_) != 1) {
    ERR_clear_error();
    return fail(ErrorKind::BadInput,
                "key_file " + key_file + " does not match cert_file " + cert_file);
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
