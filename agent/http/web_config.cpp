#include "agent/http/web_config.h"

#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "agent/http/basic_auth.h"
#include "agent/http/tls_credentials.h"
#include "symbolizer/input_file.h"

namespace goscry {
namespace {

Result<std::string> string_of(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) return fail(ErrorKind::BadInput, key + " must be a string");
  return n.as<std::string>();
}

// Relative paths are relative to the web config file, as in exporter-toolkit.
Result<TlsSettings> parse_tls(const YAML::Node& n, const std::filesystem::path& base) {
  if (!n.IsMap()) return fail(ErrorKind::BadInput, "tls_server_config must be a mapping");
  TlsSettings t;
  for (const auto& kv : n) {
    std::string key = kv.first.as<std::string>();
    auto v = string_of(kv.second, "tls_server_config." + key);
    if (!v) return std::unexpected(v.error());
    if (key == "cert_file") {
      t.cert_file = *v;
    } else if (key == "key_file") {
      t.key_file = *v;
    } else if (key == "min_version") {
      if (*v == "TLS12") t.min_version = TLS1_2_VERSION;
      else if (*v == "TLS13") t.min_version = TLS1_3_VERSION;
      else if (*v == "TLS10" || *v == "TLS11")
        return fail(ErrorKind::BadInput, "tls_server_config.min_version " + *v +
                                             " is below the minimum goscry accepts (TLS12)");
      else
        return fail(ErrorKind::BadInput,
                    "tls_server_config.min_version must be TLS12 or TLS13, not " + *v);
    } else {
      return fail(ErrorKind::BadInput, "tls_server_config." + key + " is not supported by goscry");
    }
  }
  if (t.cert_file.empty() || t.key_file.empty())
    return fail(ErrorKind::BadInput, "tls_server_config needs both cert_file and key_file");
  for (std::string* f : {&t.cert_file, &t.key_file})
    if (std::filesystem::path(*f).is_relative()) *f = (base / *f).string();
  // Loaded here, the way the server will use them, so a bad pair stops the agent at start
  // (or fails a reload) instead of failing every handshake later.
  auto credentials = TlsCredentials::load(t.cert_file, t.key_file);
  if (!credentials) return std::unexpected(credentials.error());
  t.credentials = *credentials;
  return t;
}

Result<std::map<std::string, std::string>> parse_users(const YAML::Node& n) {
  if (!n.IsMap())
    return fail(ErrorKind::BadInput, "basic_auth_users must be a mapping of user: bcrypt hash");
  std::map<std::string, std::string> users;
  for (const auto& kv : n) {
    std::string user = kv.first.as<std::string>();
    auto hash = string_of(kv.second, "basic_auth_users." + user);
    if (!hash) return std::unexpected(hash.error());
    if (user.empty() || user.find(':') != std::string::npos)
      return fail(ErrorKind::BadInput,
                  "basic_auth_users: user name \"" + user + "\" is empty or has a colon");
    if (!is_bcrypt_hash(*hash))
      return fail(ErrorKind::BadInput,
                  "basic_auth_users." + user + " is not a bcrypt hash ($2a$, $2b$ or $2y$)");
    users[user] = *hash;
  }
  return users;
}

}  // namespace

Result<WebConfig> parse_web_config(const std::string& yaml, const std::string& name) {
  auto bad = [&](const Error& e) {
    return std::unexpected(Error{ErrorKind::BadInput, name + ": " + e.message, e.error_number});
  };
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return bad(Error{ErrorKind::BadInput, "not valid YAML: " + e.msg + " (line " +
                                              std::to_string(e.mark.line + 1) + ")"});
  }
  WebConfig c;
  if (root.IsNull()) return c;
  if (!root.IsMap()) return bad(Error{ErrorKind::BadInput, "must be a YAML mapping"});
  try {
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      if (key == "tls_server_config") {
        auto t = parse_tls(kv.second, std::filesystem::path(name).parent_path());
        if (!t) return bad(t.error());
        c.tls = *t;
      } else if (key == "basic_auth_users") {
        auto u = parse_users(kv.second);
        if (!u) return bad(u.error());
        c.basic_auth_users = *u;
      } else {
        return bad(Error{ErrorKind::BadInput, key + " is not supported by goscry"});
      }
    }
  } catch (const YAML::Exception& e) {
    return bad(Error{ErrorKind::BadInput, "unexpected structure: " + e.msg});
  }
  return c;
}

Result<WebConfig> load_web_config(const std::string& path) {
  auto text = read_input_file(path, "web config file");
  if (!text) return std::unexpected(text.error());
  return parse_web_config(*text, path);
}

}  // namespace goscry
