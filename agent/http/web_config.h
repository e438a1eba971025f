// The web configuration file of --web.config.file, in the shape the Prometheus exporters'
// exporter-toolkit reads, so an operator's existing file works:
//
//   tls_server_config:
//     cert_file: /etc/goscry/tls.crt
//     key_file: /etc/goscry/tls.key
//     min_version: TLS12          # TLS12 (default) or TLS13; older is refused
//   basic_auth_users:
//     alice: $2y$10$...           # bcrypt hashes only ($2a$, $2b$, $2y$)
//
// Anything goscry does not implement (client_auth_type, cipher_suites, http_server_config
// ...) is an error rather than silently ignored: a security setting that does nothing is
// worse than a refusal to start.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "symbolizer/error.h"

namespace goscry {

class TlsCredentials;  // agent/http/tls_credentials.h

struct TlsSettings {
  std::string cert_file;
  std::string key_file;
  int min_version = 0x0303;  // TLS1_2_VERSION
  std::shared_ptr<const TlsCredentials> credentials;  // the pair, loaded and checked
};

struct WebConfig {
  std::optional<TlsSettings> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
};

// Parses and checks: files readable, the certificate and key load and match, every hash
// is a well-formed bcrypt hash. The error is one sentence that names the file and the key.
Result<WebConfig> parse_web_config(const std::string& yaml, const std::string& name);
Result<WebConfig> load_web_config(const std::string& path);

}  // namespace goscry
