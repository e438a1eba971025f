#include "agent/http/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "agent/base/log.h"
#include "agent/http/tls_credentials.h"

namespace goscry {

struct HttpServer::Tls {
  int min_version;
  std::mutex mu;
  std::shared_ptr<const TlsCredentials> credentials;

  std::shared_ptr<const TlsCredentials> current() {
    std::lock_guard lock(mu);
    return credentials;
  }
};

namespace {

// Request threads: scrapers keep connections alive and each holds a thread while it does,
// so there must be more than the handful of scrapers (and browsers) an agent serves.
constexpr size_t kThreads = 32;

// OpenSSL calls this in every handshake, after the ClientHello and before it picks a
// cipher: the connection gets the pair current at that moment.
int use_current_credentials(SSL* ssl, void* tls) {
  return static_cast<HttpServer::Tls*>(tls)->current()->use_on(ssl) ? 1 : 0;
}

std::unique_ptr<httplib::Server> make_tls_server(HttpServer::Tls& tls) {
  return std::make_unique<httplib::SSLServer>([&tls](SSL_CTX& ctx) {
    // Everything below TLS 1.2 is refused by the server itself, whatever the client offers.
    SSL_CTX_set_min_proto_version(&ctx, tls.min_version);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_cert_cb(&ctx, use_current_credentials, &tls);
    return true;
  });
}

// Debian's cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled
// into the library) and gives no access to its socket. When more scrapers than that connect
// at once, the rest have their SYN dropped and wait out the 1 s retransmit (the p99 of
// tests/bench/agent_scrape_bench showed it). Linux lets listen() be called again to change
// the backlog, so find our listening socket by its port and widen it.
void widen_backlog(int port) {
  for (int fd = 0; fd < 1024; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int p = addr.ss_family == AF_INET6
                ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (p == port) ::listen(fd, 1024);
  }
}

}  // namespace

HttpServer::HttpServer(std::shared_ptr<Tls> tls, std::unique_ptr<httplib::Server> server,
                       std::map<std::string, std::string> users)
    : tls_(std::move(tls)),
      server_(std::move(server)),
      auth_(std::make_shared<BasicAuth>(std::move(users))) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  server_->set_keep_alive_timeout(5);
  // cpp-httplib closes a kept-alive connection after 5 requests by default: scrapers would
  // reconnect all the time (see widen_backlog for why that hurts).
  server_->set_keep_alive_max_count(1000);
  server_->set_read_timeout(10);
  server_->set_write_timeout(10);
  server_->set_payload_max_length(64 * 1024);  // only GETs: nothing big comes in
  // Basic auth guards every route, including those added later.
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    auto auth = this->auth();
    if (!auth->enabled() || auth->allows(req.get_header_value("Authorization")))
      return httplib::Server::HandlerResponse::Unhandled;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Basic realm=\"goscry\", charset=\"UTF-8\"");
    res.set_content("401 Unauthorized\n", "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  server_->set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                    std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::error("HTTP handler failed", {{"path", req.path}, {"error", what}});
    res.status = 500;
    res.set_content("500 Internal Server Error\n", "text/plain; charset=utf-8");
  });
}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::create(const WebConfig& web) {
  std::shared_ptr<Tls> tls;
  std::unique_ptr<httplib::Server> server;
  if (web.tls) {
    tls = std::make_shared<Tls>();
    tls->min_version = web.tls->min_version;
    tls->credentials = web.tls->credentials;
    server = make_tls_server(*tls);
    if (!server->is_valid()) return fail("TLS: cannot create the server's TLS context");
  } else {
    server = std::make_unique<httplib::Server>();
  }
  return std::unique_ptr<HttpServer>(
      new HttpServer(std::move(tls), std::move(server), web.basic_auth_users));
}

Result<void> HttpServer::reload(const WebConfig& web) {
  if (web.tls.has_value() != tls())
    return fail(std::string("turning TLS ") + (tls() ? "off" : "on") + " needs a restart");
  if (tls_ && web.tls->min_version != tls_->min_version)
    return fail("changing tls_server_config.min_version needs a restart");
  if (tls_) {
    std::lock_guard lock(tls_->mu);
    tls_->credentials = web.tls->credentials;
  }
  auto auth = std::make_shared<BasicAuth>(web.basic_auth_users);
  std::lock_guard lock(auth_mu_);
  auth_ = std::move(auth);
  return {};
}

std::shared_ptr<BasicAuth> HttpServer::auth() const {
  std::lock_guard lock(auth_mu_);
  return auth_;
}

void HttpServer::get(const std::string& pattern, Handler handler) {
  server_->Get(pattern, std::move(handler));
}

Result<std::string> HttpServer::bind(const std::string& host, int port) {
  int bound = port;
  if (port == 0) bound = server_->bind_to_any_port(host);
  else if (!server_->bind_to_port(host, port)) bound = -1;
  if (bound <= 0)
    return fail("cannot listen on " + host + ":" + std::to_string(port) +
                " (address in use, not local, or not permitted)");
  widen_backlog(bound);
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(bound);
}

void HttpServer::start() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace goscry
