// The agent's HTTP(S) server: event-driven (Boost.Beast on Boost.Asio, OpenSSL for TLS), so
// that a slow or hostile client costs a few kilobytes and never a thread. Plain HTTP, or TLS
// with a minimum version, and basic auth in front of every route, both from the web config
// (web_config.h). A reloaded web config changes users and certificate in place (reload()).
//
// Why not cpp-httplib (which served until issue 14): it gives each connection a thread of a
// fixed pool for as long as the connection lives and times out each read, not the request,
// so 33 clients sending one header line a second starved all 32 threads; it writes headers
// and body in two writes without TCP_NODELAY (a 40 ms Nagle/delayed-ACK stall per kept-alive
// scrape), drops pipelined requests it has already read, and sets SO_REUSEPORT (a second
// agent on the same port silently took half of the scrapes). docs/agent.md has the figures.
//
// Requests are read and answers written on the event loop, with a deadline on the whole
// request head; handlers run on a pool of their own (they may block: a CPU profile takes
// seconds), except light ones (get_light) which answer on the loop and so stay fast whatever
// the pool is doing. A handler that works for long can ask client_gone() and stop.
//
// Adding a route is one line:
//   server.get("/debug/pprof/goroutine",
//              [&](const httplib::Request& q, httplib::Response& r) { ... });
// (handlers include <httplib.h> themselves for these two plain structs; this header only
// forward-declares them).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "agent/http/basic_auth.h"
#include "agent/http/web_config.h"
#include "symbolizer/error.h"

namespace httplib {
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

  // A route for GET (and HEAD) of this exact path; the handler runs on the handler pool.
  void get(const std::string& path, Handler handler);
  // A route whose handler never blocks and answers in microseconds (/healthz): it runs on
  // the event loop, so it answers even when every pool thread is busy. It is also the only
  // kind of route the health listener (bind_health) serves.
  void get_light(const std::string& path, Handler handler);

  // A route whose answers are large (goroutine dumps: tens of MiB on big targets). They are
  // admitted by a memory budget: at most kHeavySlots at once, and none while the answers
  // already built and not yet sent hold kHeavyBudget bytes; others get 503 with
  // Retry-After at once instead of piling up in memory. A handler of any route may stream
  // its answer instead of building it: res.set_chunked_content_provider(type, provider)
  // (cpp-httplib's API); the provider runs on the handler's thread after it returns, and
  // each DataSink::write is sent in chunks of 64 KiB before the next is taken (false once
  // the client has gone).
  static constexpr int kHeavySlots = 2;
  static constexpr std::size_t kHeavyBudget = 128u << 20;
  void get_heavy(const std::string& path, Handler handler);

  // Binds (port 0: any free port) and returns the bound address, "127.0.0.1:41234". A port
  // another process listens on is refused (no SO_REUSEPORT: two agents would split scrapes).
  Result<std::string> bind(const std::string& host, int port);
  // A second listener, always plain HTTP and without auth, that serves the light routes only
  // (/healthz for a kubelet's probes) and has its own connection cap, so a flood of the
  // data port does not fail the probes.
  Result<std::string> bind_health(const std::string& host, int port);
  // Serves on threads of its own until stop().
  void start();
  void stop();
  bool tls() const;

  // Inside a handler: whether the client of the request has gone (closed or reset its
  // connection), so long work can stop. False outside a handler.
  static bool client_gone();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace goscry
