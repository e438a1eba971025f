#include "agent/http/http_server.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/base/log.h"
#include "agent/http/basic_auth.h"
#include "agent/http/tls_credentials.h"
#include "exporters/gzip.h"
#include "symbolizer/output_file.h"  // kOutputPiece

namespace goscry {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

using namespace std::chrono_literals;

// The whole request (line, headers and the small body a GET may carry) must arrive within
// this time of the first byte we wait for, or the connection is closed: a slowloris client
// holds a few kilobytes for this long and nothing else. It also bounds a kept-alive idle
// connection. Prometheus and kubelets send a request in one packet.
constexpr auto kRequestDeadline = 10s;
// TLS handshake and the first bytes of a connection, together.
constexpr auto kHandshakeDeadline = 10s;
// Writing one answer, whole or streamed. Goroutine dumps of big targets are tens of
// megabytes: at the 10 MB/s of a poor link that is seconds, so this is generous; a client
// that does not read at all is dropped after it.
constexpr auto kWriteDeadline = 60s;
constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024;  // only GETs: nothing big comes in
// Connections open at once on the data port; more are closed at accept. Each costs a socket
// and a few kilobytes of buffers (a TLS one ~40 KiB), so 4096 stay within a few tens of MiB.
constexpr int kMaxConnections = 4096;
// The health listener's own cap: a kubelet probes a few times a minute.
constexpr int kMaxHealthConnections = 256;
// Event-loop threads: reading, writing and TLS. Two so that one long TLS write does not
// delay every other connection.
constexpr int kIoThreads = 2;
// Handler threads. Profiles (at most CpuProfiler::kMaxCollections) block one each for their
// seconds; the rest of the pool serves scrapes and dumps.
constexpr int kHandlerThreads = 16;

// The fd of the connection whose request this thread is handling (client_gone()).
thread_local int current_request_fd = -1;

// Connections are accepted and served in numbers only fds bound: lift the soft limit to the
// hard one, as Go's runtime has done since 1.19.
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace

struct HttpServer::Impl {
  struct Route {
    Handler handler;
    bool light;
    bool heavy = false;
  };
  struct Listener {
    Listener(net::io_context& ioc, bool health, int max)
        : ioc(ioc), acceptor(ioc), health(health), max_connections(max) {}
    net::io_context& ioc;
    tcp::acceptor acceptor;
    bool health;  // light routes only, plain HTTP, no auth
    int max_connections;
    // Shared with the sessions, which may outlive the listener while the loop shuts down.
    std::shared_ptr<std::atomic<int>> connections = std::make_shared<std::atomic<int>>(0);
  };

  // The current TLS credentials, read by every handshake.
  struct Tls {
    int min_version;
    std::mutex mu;
    std::shared_ptr<const TlsCredentials> credentials;
    std::shared_ptr<const TlsCredentials> current() {
      std::lock_guard lock(mu);
      return credentials;
    }
  };

  // Declared first so that it is destroyed last: pending completions hold sessions, whose
  // destructors touch the listeners.
  net::io_context ioc{kIoThreads};
  // The health listener's own loop and thread: a flood of the data port keeps its loop
  // busy, and the kubelet's probes must not wait behind it.
  net::io_context health_ioc{1};
  std::unique_ptr<Tls> tls;
  std::optional<ssl::context> ssl_ctx;
  std::map<std::string, Route> routes;
  std::vector<std::unique_ptr<Listener>> listeners;
  mutable std::mutex auth_mu;
  std::shared_ptr<BasicAuth> auth;
  std::vector<std::thread> io_threads;
  // After ioc: destroyed (joined) first, while the loop's objects still exist.
  net::thread_pool handlers{kHandlerThreads};
  bool started = false;
  // Heavy routes in flight (admitted, not yet written) and the bytes of their built answers.
  std::mutex heavy_mu;
  int heavy_in_flight = 0;
  std::size_t heavy_bytes = 0;

  // One sentence on why a heavy request is not admitted now, or empty after admitting it.
  std::string admit_heavy() {
    std::lock_guard lock(heavy_mu);
    if (heavy_in_flight >= kHeavySlots || heavy_bytes >= kHeavyBudget)
      return "the agent is already building or sending " + std::to_string(heavy_in_flight) +
             " large answers (" + std::to_string(heavy_bytes >> 20) + " MiB of its " +
             std::to_string(kHeavyBudget >> 20) + " MiB budget); retry later";
    ++heavy_in_flight;
    return {};
  }
  void heavy_built(std::size_t bytes) {
    std::lock_guard lock(heavy_mu);
    heavy_bytes += bytes;
  }
  void heavy_done(std::size_t bytes) {
    std::lock_guard lock(heavy_mu);
    --heavy_in_flight;
    heavy_bytes -= bytes;
  }

  std::shared_ptr<BasicAuth> current_auth() const {
    std::lock_guard lock(auth_mu);
    return auth;
  }
  void accept(Listener& l);
  Result<std::string> listen(const std::string& host, int port, bool health);
};

namespace {

// OpenSSL calls this in every handshake, after the ClientHello and before it picks a
// cipher: the connection gets the pair current at that moment.
int use_current_credentials(SSL* ssl, void* tls) {
  return static_cast<HttpServer::Impl::Tls*>(tls)->current()->use_on(ssl) ? 1 : 0;
}

httplib::Request to_httplib(const http::request<http::string_body>& in,
                            const tcp::endpoint& peer) {
  httplib::Request r;
  r.method = std::string(in.method_string());
  r.target = std::string(in.target());
  r.version = in.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
  auto q = r.target.find('?');
  r.path = httplib::detail::decode_url(r.target.substr(0, q), false);
  if (q != std::string::npos) httplib::detail::parse_query_text(r.target.substr(q + 1), r.params);
  for (const auto& f : in) r.headers.emplace(std::string(f.name_string()), std::string(f.value()));
  r.body = in.body();
  r.remote_addr = peer.address().to_string();
  r.remote_port = peer.port();
  return r;
}

void plain(httplib::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

// Whether `req` is answered (in `res`) before any handler: 405, 401, 404.
// Basic auth guards every route of the data port, including those added later.
bool refused_before_routing(HttpServer::Impl& s, bool health, const httplib::Request& req,
                            const HttpServer::Impl::Route* route, httplib::Response& res) {
  if (req.method != "GET" && req.method != "HEAD") {
    res.set_header("Allow", "GET, HEAD");
    plain(res, 405, "405 Method Not Allowed");
    return true;
  }
  if (!health) {
    auto auth = s.current_auth();
    if (auth->enabled() && !auth->allows(req.get_header_value("Authorization"))) {
      res.set_header("WWW-Authenticate", "Basic realm=\"goscry\", charset=\"UTF-8\"");
      plain(res, 401, "401 Unauthorized");
      return true;
    }
  }
  if (!route || (health && !route->light)) {
    plain(res, 404, "404 Not Found");
    return true;
  }
  return false;
}

// Text answers go gzipped to clients that ask (Prometheus does: /metrics of a big node is
// megabytes of text that compress ~10x), at level 1: most of the gain for a fraction of the
// CPU.
constexpr int kGzipLevel = 1;
bool gzip_wanted(const httplib::Request& req, const httplib::Response& res) {
  if (res.has_header("Content-Encoding")) return false;
  if (req.get_header_value("Accept-Encoding").find("gzip") == std::string::npos) return false;
  const std::string type = res.get_header_value("Content-Type");
  return type.starts_with("text/") || type.starts_with("application/json");
}

void mark_gzipped(http::fields& f) {
  f.set(http::field::content_encoding, "gzip");
  f.set(http::field::vary, "Accept-Encoding");
}

void gzip_when_asked(const httplib::Request& req, httplib::Response& res) {
  if (res.body.size() < 1024 || !gzip_wanted(req, res)) return;
  auto z = gzip(res.body, kGzipLevel);
  if (!z) return;
  res.body = std::move(*z);
  res.set_header("Content-Encoding", "gzip");
  res.set_header("Vary", "Accept-Encoding");
}

bool streamed(const httplib::Response& res) {
  return res.content_provider_ && res.is_chunked_content_provider_;
}

// Handler threads run at nice 10 (set by each on its first request): under CPU
// contention a burst of scrapes must not take the CPU from the event loops that answer
// /healthz (with 16 busy handlers at equal weight, a loop thread got a twentieth of it).
void lower_handler_priority() {
  thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
}

void run_handler(const HttpServer::Handler& h, const httplib::Request& req,
                 httplib::Response& res) {
  try {
    h(req, res);
    if (res.status == -1) res.status = 200;
    gzip_when_asked(req, res);
  } catch (const std::exception& e) {
    log::error("HTTP handler failed", {{"path", req.path}, {"error", e.what()}});
    res = httplib::Response();
    plain(res, 500, "500 Internal Server Error");
  }
}

http::response<http::string_body> to_beast(httplib::Response& res, unsigned version, bool head,
                                           bool keep_alive) {
  http::response<http::string_body> out{static_cast<http::status>(res.status), version};
  for (const auto& [k, v] : res.headers) out.insert(k, v);
  const std::size_t length = res.body.size();
  if (!head) out.body() = std::move(res.body);
  out.content_length(length);
  out.keep_alive(keep_alive);
  return out;
}

// One connection: reads a request under a deadline, answers it (pool or loop), repeats
// while the client keeps it alive. Pipelined requests wait in `buffer` and are answered in
// order. Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& server, const HttpServer::Impl::Listener& listener, Stream stream,
          beast::flat_buffer buffer)
      : server_(server), health_(listener.health), connections_(listener.connections),
        stream_(std::move(stream)), buffer_(std::move(buffer)) {}
  ~Session() { connections_->fetch_sub(1); }

  void start() { read(); }

  void handshake() {
    beast::get_lowest_layer(stream_).expires_after(kHandshakeDeadline);
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      stream_.async_handshake(ssl::stream_base::server, buffer_.data(),
                              [self = this->shared_from_this()](beast::error_code ec,
                                                                std::size_t used) {
                                if (ec) return;
                                self->buffer_.consume(used);
                                self->read();
                              });
    }
  }

 private:
  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }

  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    beast::get_lowest_layer(stream_).expires_after(kRequestDeadline);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof)
      return close();
    if (ec) {
      // A malformed or oversized request: say so once, then close.
      auto res = std::make_shared<httplib::Response>();
      plain(*res, ec == http::error::header_limit || ec == http::error::body_limit ? 431 : 400,
            "400 Bad Request: " + ec.message());
      return write(std::move(res), 11, false, false);
    }
    auto in = parser_->release();
    beast::error_code pe;
    auto peer = socket().remote_endpoint(pe);
    auto req = std::make_shared<httplib::Request>(to_httplib(in, peer));
    auto res = std::make_shared<httplib::Response>();
    const bool head = in.method() == http::verb::head;
    const bool keep = in.keep_alive();
    const unsigned version = in.version();
    auto it = server_.routes.find(req->path);
    const HttpServer::Impl::Route* route = it == server_.routes.end() ? nullptr : &it->second;
    if (refused_before_routing(server_, health_, *req, route, *res))
      return write(std::move(res), version, head, keep);
    if (route->light) {
      run_handler(route->handler, *req, *res);
      return write(std::move(res), version, head, keep);
    }
    if (route->heavy) {
      if (auto busy = server_.admit_heavy(); !busy.empty()) {
        res->set_header("Retry-After", "2");
        plain(*res, 503, "503 Service Unavailable: " + busy);
        return write(std::move(res), version, head, keep);
      }
    }
    // No read is pending while the handler runs, so its thread may poll the socket.
    net::post(server_.handlers, [self = this->shared_from_this(), route, req, res, version,
                                 head, keep] {
      lower_handler_priority();
      current_request_fd = self->socket().native_handle();
      run_handler(route->handler, *req, *res);
      current_request_fd = -1;
      if (streamed(*res)) {
        const bool ok = self->stream(*req, *res, version, head, keep);
        if (route->heavy) self->server_.heavy_done(0);
        net::post(self->stream_.get_executor(), [self, ok, keep] {
          if (ok && keep) return self->read();
          self->close();
        });
        return;
      }
      std::size_t held = 0;
      if (route->heavy) {
        held = res->body.size();
        self->server_.heavy_built(held);
      }
      net::post(self->stream_.get_executor(), [self, res, version, head, keep, route, held] {
        self->write(res, version, head, keep,
                    route->heavy ? std::optional<std::size_t>(held) : std::nullopt);
      });
    });
  }

  // `heavy`: the bytes this answer holds of the heavy budget, released once it is sent.
  void write(std::shared_ptr<httplib::Response> res, unsigned version, bool head, bool keep,
             std::optional<std::size_t> heavy = std::nullopt) {
    auto out = std::make_shared<http::response<http::string_body>>(
        to_beast(*res, version, head, keep));
    beast::get_lowest_layer(stream_).expires_after(kWriteDeadline);
    http::async_write(stream_, *out, [self = this->shared_from_this(), out, heavy](
                                         beast::error_code ec, std::size_t) {
      if (heavy) {
        out->body() = std::string();  // freed before the budget says so
        self->server_.heavy_done(*heavy);
      }
      if (ec || !out->keep_alive()) return self->close();
      self->read();
    });
  }

  // A chunked answer (the handler set a chunked content provider), written from the
  // handler's thread: each piece (kOutputPiece of text, gzipped when asked) is handed to the
  // loop and waited for, so one piece is in memory at a time and a slow reader slows the
  // writer down instead of filling a buffer. The whole answer has kWriteDeadline, as a
  // built one has. False when the client went, the deadline passed or the server stopped.
  bool stream(const httplib::Request& req, httplib::Response& res, unsigned version, bool head,
              bool keep) {
    const auto deadline = std::chrono::steady_clock::now() + kWriteDeadline;
    auto header = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(res.status), version);
    for (const auto& [k, v] : res.headers) header->insert(k, v);
    std::optional<GzipStream> z;
    if (!head && gzip_wanted(req, res)) {
      z.emplace(kGzipLevel);
      mark_gzipped(*header);
    }
    header->chunked(true);
    header->keep_alive(keep);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*header);
    bool ok = write_and_wait(deadline, [this, header, serializer](auto done) {
      http::async_write_header(stream_, *serializer,
                               [header, serializer, done](beast::error_code ec, std::size_t) {
                                 done(ec);
                               });
    });
    auto release = [&res](bool sent) {
      if (res.content_provider_resource_releaser_) res.content_provider_resource_releaser_(sent);
      return sent;
    };
    if (head || !ok) return release(ok);

    std::string piece;
    auto send_piece = [&] {
      auto chunk = std::make_shared<std::string>(std::exchange(piece, {}));
      return chunk->empty() || write_and_wait(deadline, [this, chunk](auto done) {
               net::async_write(stream_, http::make_chunk(net::buffer(*chunk)),
                                [chunk, done](beast::error_code ec, std::size_t) { done(ec); });
             });
    };
    bool finished = false;
    std::size_t offset = 0;  // what cpp-httplib's providers are given: the bytes so far
    httplib::DataSink sink;
    sink.write = [&](const char* data, std::size_t n) {
      if (!ok) return false;
      offset += n;
      if (z)
        ok = z->append({data, n}, piece);
      else
        piece.append(data, n);
      if (ok && piece.size() >= kOutputPiece) ok = send_piece();
      return ok;
    };
    sink.is_writable = [&] { return ok; };
    sink.done = [&] { finished = true; };
    // A chunked provider is stored with a length argument, which it ignores.
    while (ok && !finished) ok = res.content_provider_(offset, 0, sink);
    if (ok && z) ok = z->finish(piece);
    if (ok) ok = send_piece();
    if (ok)
      ok = write_and_wait(deadline, [this](auto done) {
        net::async_write(stream_, http::make_chunk_last(),
                         [done](beast::error_code ec, std::size_t) { done(ec); });
      });
    return release(ok);
  }

  // Starts `write(done)` on the connection's strand and waits for it to call done(ec), from
  // a handler thread. False on an error, or when the server stops first.
  template <class Write>
  bool write_and_wait(std::chrono::steady_clock::time_point deadline, Write write) {
    auto result = std::make_shared<std::promise<beast::error_code>>();
    auto written = result->get_future();
    net::post(stream_.get_executor(), [self = this->shared_from_this(), deadline, write,
                                       result]() mutable {
      beast::get_lowest_layer(self->stream_).expires_at(deadline);
      write([result](beast::error_code ec) { result->set_value(ec); });
    });
    while (written.wait_for(100ms) != std::future_status::ready)
      if (server_.ioc.stopped()) return false;
    return !written.get();
  }

  void close() {
    beast::get_lowest_layer(stream_).expires_after(1s);
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      // close_notify, then the socket; a peer that is gone fails it at once.
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ec;
        self->socket().shutdown(tcp::socket::shutdown_both, ec);
      });
    } else {
      beast::error_code e;
      socket().shutdown(tcp::socket::shutdown_send, e);
    }
  }

  HttpServer::Impl& server_;
  const bool health_;
  std::shared_ptr<std::atomic<int>> connections_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

// What Go's net/http answers to plain HTTP on a TLS port (instead of closing without a word).
constexpr std::string_view kPlainToTls =
    "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

// A new connection on a TLS listener: TLS goes on to the handshake; anything else is told
// in one sentence that this port speaks HTTPS.
void detect_tls(HttpServer::Impl& s, HttpServer::Impl::Listener& l, beast::tcp_stream stream) {
  struct Detect {
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
  };
  auto d = std::make_shared<Detect>(Detect{std::move(stream), {}});
  d->stream.expires_after(kHandshakeDeadline);
  auto count = l.connections;
  beast::async_detect_ssl(d->stream, d->buffer, [&s, &l, d, count](beast::error_code ec,
                                                                    bool is_tls) {
    if (ec) {
      count->fetch_sub(1);
      return;
    }
    if (is_tls) {
      using TlsStream = beast::ssl_stream<beast::tcp_stream>;
      std::make_shared<Session<TlsStream>>(s, l, TlsStream(std::move(d->stream), *s.ssl_ctx),
                                           std::move(d->buffer))
          ->handshake();
      return;
    }
    net::async_write(d->stream, net::buffer(kPlainToTls.data(), kPlainToTls.size()),
                     [d, count](beast::error_code, std::size_t) {
                       beast::error_code e;
                       d->stream.socket().shutdown(tcp::socket::shutdown_send, e);
                       count->fetch_sub(1);
                     });
  });
}

}  // namespace

void HttpServer::Impl::accept(Listener& l) {
  l.acceptor.async_accept(net::make_strand(l.ioc), [this, &l](beast::error_code ec,
                                                            tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // stop()
    if (!ec) {
      if (l.connections->fetch_add(1) >= l.max_connections) {
        l.connections->fetch_sub(1);
        beast::error_code e;
        socket.close(e);  // over the cap: a reset now beats a slot held for nothing
      } else {
        // Headers and body leave in one write already; this keeps small answers from
        // waiting for the client's delayed ACK of the previous one.
        socket.set_option(tcp::no_delay(true), ec);
        beast::tcp_stream stream(std::move(socket));
        if (ssl_ctx && !l.health)
          detect_tls(*this, l, std::move(stream));
        else
          std::make_shared<Session<beast::tcp_stream>>(*this, l, std::move(stream),
                                                       beast::flat_buffer())
              ->start();
      }
    }
    accept(l);
  });
}

Result<std::string> HttpServer::Impl::listen(const std::string& host, int port, bool health) {
  const std::string where = host + ":" + std::to_string(port);
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return fail(ErrorKind::BadInput, "cannot listen on " + where + ": not an IP address");
  auto l = std::make_unique<Listener>(health ? health_ioc : ioc, health,
                                      health ? kMaxHealthConnections : kMaxConnections);
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  l->acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only: a restart may bind while old connections linger in TIME_WAIT, but a
  // second live listener on the port is refused (SO_REUSEPORT would let the kernel split
  // connections between two agents).
  if (!ec) l->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) l->acceptor.bind(endpoint, ec);
  if (ec == net::error::address_in_use)
    return fail(ErrorKind::Io, "cannot listen on " + where +
                                   ": the address is in use (is another goscry agent running?)");
  if (!ec) l->acceptor.listen(1024, ec);
  // The system category's values are errno: EACCES (a port below 1024) is a permission.
  if (ec)
    return std::unexpected(Error{ec.category() == boost::system::system_category()
                                     ? kind_of_errno(ec.value())
                                     : ErrorKind::Io,
                                 "cannot listen on " + where + ": " + ec.message(), ec.value()});
  const int bound = l->acceptor.local_endpoint().port();
  listeners.push_back(std::move(l));
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(bound);
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::create(const WebConfig& web) {
  raise_fd_limit();
  auto impl = std::make_unique<Impl>();
  impl->auth = std::make_shared<BasicAuth>(web.basic_auth_users);
  if (web.tls) {
    impl->tls = std::make_unique<Impl::Tls>();
    impl->tls->min_version = web.tls->min_version;
    impl->tls->credentials = web.tls->credentials;
    impl->ssl_ctx.emplace(ssl::context::tls_server);
    SSL_CTX* ctx = impl->ssl_ctx->native_handle();
    // Everything below the minimum is refused by the server itself, whatever the client
    // offers.
    if (!SSL_CTX_set_min_proto_version(ctx, impl->tls->min_version))
      return fail(ErrorKind::Io, "TLS: cannot create the server's TLS context");
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_cert_cb(ctx, use_current_credentials, impl->tls.get());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

bool HttpServer::tls() const { return impl_->tls != nullptr; }

Result<void> HttpServer::reload(const WebConfig& web) {
  if (web.tls.has_value() != tls())
    return fail(ErrorKind::BadInput,
                std::string("turning TLS ") + (tls() ? "off" : "on") + " needs a restart");
  if (impl_->tls && web.tls->min_version != impl_->tls->min_version)
    return fail(ErrorKind::BadInput, "changing tls_server_config.min_version needs a restart");
  if (impl_->tls) {
    std::lock_guard lock(impl_->tls->mu);
    impl_->tls->credentials = web.tls->credentials;
  }
  auto auth = std::make_shared<BasicAuth>(web.basic_auth_users);
  std::lock_guard lock(impl_->auth_mu);
  impl_->auth = std::move(auth);
  return {};
}

void HttpServer::get(const std::string& path, Handler handler) {
  impl_->routes[path] = Impl::Route{std::move(handler), false};
}

void HttpServer::get_heavy(const std::string& path, Handler handler) {
  impl_->routes[path] = Impl::Route{std::move(handler), false, true};
}

void HttpServer::get_light(const std::string& path, Handler handler) {
  impl_->routes[path] = Impl::Route{std::move(handler), true};
}

Result<std::string> HttpServer::bind(const std::string& host, int port) {
  return impl_->listen(host, port, false);
}

Result<std::string> HttpServer::bind_health(const std::string& host, int port) {
  return impl_->listen(host, port, true);
}

void HttpServer::start() {
  if (impl_->started) return;
  impl_->started = true;
  for (auto& l : impl_->listeners) impl_->accept(*l);
  for (int i = 0; i < kIoThreads; ++i)
    impl_->io_threads.emplace_back([this] {
      pthread_setname_np(pthread_self(), "goscry-http");
      impl_->ioc.run();
    });
  for (auto& l : impl_->listeners)
    if (l->health) {
      impl_->io_threads.emplace_back([this] {
        pthread_setname_np(pthread_self(), "goscry-health");
        impl_->health_ioc.run();
      });
      break;
    }
}

void HttpServer::stop() {
  if (!impl_ || !impl_->started) return;
  impl_->started = false;
  impl_->ioc.stop();
  impl_->health_ioc.stop();
  for (auto& t : impl_->io_threads) t.join();
  impl_->io_threads.clear();
  // Handlers still running finish (the profiler's stop hook has woken its waiters); their
  // answers are not written, since the loop has stopped.
  impl_->handlers.join();
}

bool HttpServer::client_gone() {
  if (current_request_fd < 0) return false;
  pollfd p{current_request_fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

}  // namespace goscry
