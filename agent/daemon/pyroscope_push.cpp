#include "agent/daemon/pyroscope_push.h"

#include <httplib.h>

#include <cctype>

namespace goscry {
namespace {

// RFC 3986 unreserved characters pass, everything else is %XX.
std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

struct Url {
  std::string scheme_host_port;  // "http://pyroscope:4040"
  std::string path;              // "" or "/prefix"
};

Result<Url> split_url(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return fail(ErrorKind::BadInput, url + ": not an http(s) URL");
  auto path_at = url.find('/', scheme_end + 3);
  Url u;
  u.scheme_host_port = url.substr(0, path_at);
  if (path_at != std::string::npos) u.path = url.substr(path_at);
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  if (u.scheme_host_port.size() <= scheme_end + 3)
    return fail(ErrorKind::BadInput, url + ": no host");
  return u;
}

}  // namespace

std::string pyroscope_name(const std::string& exe, pid_t pid,
                           const std::map<std::string, std::string>& labels) {
  std::string app = exe.substr(exe.rfind('/') + 1);  // npos + 1 == 0: the whole string
  for (char& c : app)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  if (app.empty()) app = "unknown";
  std::string name = app + "{pid=" + std::to_string(pid);
  for (const auto& [k, v] : labels) name += "," + k + "=" + v;
  return name + "}";
}

Result<std::string> pyroscope_target(const std::string& base_url, const PyroscopePush& push) {
  auto u = split_url(base_url);
  if (!u) return std::unexpected(u.error());
  return u->path + "/ingest?name=" + percent_encode(push.name) +
         "&from=" + std::to_string(push.from_s) + "&until=" + std::to_string(push.until_s) +
         "&spyName=goscry&sampleRate=" + std::to_string(push.hz) +
         "&units=samples&aggregationType=sum";
}

Result<void> push_to_pyroscope(const std::string& base_url, const PyroscopePush& push) {
  auto u = split_url(base_url);
  if (!u) return std::unexpected(u.error());
  auto target = pyroscope_target(base_url, push);
  if (!target) return std::unexpected(target.error());
  httplib::Client client(u->scheme_host_port);
  if (!client.is_valid()) return fail(ErrorKind::Io, base_url + ": cannot make a client for it");
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  client.set_write_timeout(10);
  httplib::MultipartFormDataItems form = {
      {"profile", push.profile_gz, "profile.pprof", "application/octet-stream"}};
  auto res = client.Post(*target, httplib::Headers{{"User-Agent", "goscry/" GOSCRY_VERSION}}, form);
  if (!res) return fail(ErrorKind::Io, base_url + "/ingest: " + httplib::to_string(res.error()));
  if (res->status < 200 || res->status > 299)
    return fail(ErrorKind::Io, base_url + "/ingest: HTTP " + std::to_string(res->status) + ": " +
                                   res->body.substr(0, 200));
  return {};
}

}  // namespace goscry
