// The agent's HTTP(S) server (cpp-httplib): plain HTTP, or TLS with a minimum version,
// and basic auth in front of every route, both from the web config (web_config.h).
// Adding a route is one line:
//   server.get("/debug/pprof/goroutine",
//              [&](const httplib::Request& q, httplib::Response& r) { ... });
// (handlers include <httplib.h> themselves; this header only forward-declares its types).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "agent/basic_auth.h"
#include "agent/web_config.h"
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

  // Exact path, or a regular expression as cpp-httplib takes them ("/debug/pprof/(\\w+)").
  void get(const std::string& pattern, Handler handler);

  // Binds (port 0: any free port) and returns the bound address, "127.0.0.1:41234".
  Result<std::string> bind(const std::string& host, int port);
  // Serves on a thread of its own (cpp-httplib's pool handles the requests) until stop().
  void start();
  void stop();
  bool tls() const { return tls_; }

 private:
  HttpServer(std::unique_ptr<httplib::Server> server, bool tls,
             std::map<std::string, std::string> users);

  std::unique_ptr<httplib::Server> server_;
  bool tls_;
  std::unique_ptr<BasicAuth> auth_;
  std::thread thread_;
};

}  // namespace goscry
