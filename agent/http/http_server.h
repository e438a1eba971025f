// The agent's HTTP(S) server (cpp-httplib): plain HTTP, or TLS with a minimum version,
// and basic auth in front of every route, both from the web config (web_config.h). A
// reloaded web config changes users and certificate in place (reload()).
// Adding a route is one line:
//   server.get("/debug/pprof/goroutine",
//              [&](const httplib::Request& q, httplib::Response& r) { ... });
// (handlers include <httplib.h> themselves; this header only forward-declares its types).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/http/basic_auth.h"
#include "agent/http/web_config.h"
#include "symbolizer/error.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace goscry {

class HttpServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // Fails with one sentence when TLS cannot be set up.
  static Result<std::unique_ptr<HttpServer>> create(const WebConfig& web);
  ~HttpServer();

  // Applies a reloaded web config to the running server: new basic-auth users from the next
  // request, a renewed certificate from the next handshake. Turning TLS on or off and
  // changing min_version need a new listener: refused with one sentence, nothing changed.
  Result<void> reload(const WebConfig& web);

  // Exact path, or a regular expression as cpp-httplib takes them ("/debug/pprof/(\\w+)").
  void get(const std::string& pattern, Handler handler);

  // Binds (port 0: any free port) and returns the bound address, "127.0.0.1:41234".
  Result<std::string> bind(const std::string& host, int port);
  // Serves on a thread of its own (cpp-httplib's pool handles the requests) until stop().
  void start();
  void stop();
  bool tls() const { return tls_ != nullptr; }

  struct Tls;  // the current credentials, read by every handshake

 private:
  HttpServer(std::shared_ptr<Tls> tls, std::unique_ptr<httplib::Server> server,
             std::map<std::string, std::string> users);
  std::shared_ptr<BasicAuth> auth() const;

  // Declared before server_, so it outlives the SSL_CTX whose callback points at it.
  std::shared_ptr<Tls> tls_;
  std::unique_ptr<httplib::Server> server_;
  mutable std::mutex auth_mu_;
  std::shared_ptr<BasicAuth> auth_;
  std::thread thread_;
};

}  // namespace goscry
