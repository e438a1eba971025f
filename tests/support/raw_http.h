// HTTP/1.1 over raw loopback sockets, for the tests that play a hostile or careless client:
// slow headers, many connections at once, pipelining, keep-alive timing, clients that go
// away mid-request. curl cannot do these (it is polite), so the bytes are written by hand.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace goscry::testing {

// A TCP connection to 127.0.0.1:port (closed by the destructor); invalid (fd < 0) when the
// connection was refused.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(RawConnection&& o) noexcept;
  RawConnection& operator=(RawConnection&&) = delete;
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Writes all of `bytes` (false when the peer has closed or reset).
  bool send(const std::string& bytes);
  // Bytes until `n` whole responses (status line, headers, a Content-Length or chunked
  // body) have arrived, the peer closes, or `timeout` passes. Responses after the first stay
  // in the buffer for the next call.
  std::vector<std::string> responses(std::size_t n, std::chrono::milliseconds timeout);
  // Reads until `want` arrives (true) or the peer closes or `timeout` passes (false); what
  // came up to and with it is dropped (a line protocol's acknowledgement, NATS' PONG).
  bool read_until(const std::string& want, std::chrono::milliseconds timeout);
  // Whatever arrives until the peer closes or `timeout` passes.
  std::string until_close(std::chrono::milliseconds timeout);
  // Whether the peer has closed its side (without consuming data).
  bool closed_by_peer();
  // Sends RST on close instead of FIN (a client that vanishes).
  void reset_on_close();

 private:
  int fd_ = -1;
  std::string buffered_;
};

// "GET path HTTP/1.1" with Host, complete.
std::string get_request(const std::string& path, bool keep_alive = true);
// "POST path HTTP/1.1" with Host, Content-Type and Content-Length, complete (keep-alive).
std::string post_request(const std::string& path, const std::string& body,
                         const std::string& content_type = "text/plain");
// The status of one raw response ("HTTP/1.1 200 OK..." -> 200), 0 when unparseable.
int status_of(const std::string& response);
std::string body_of(const std::string& response);
// The sizes of a chunked answer's chunks (Transfer-Encoding: chunked), none for another.
std::vector<std::size_t> chunk_sizes(const std::string& response);

// One GET on a fresh connection, as a kubelet probe does: the time until its whole answer,
// or `timeout` when none came. `status` gets the answer's status (0: none).
std::chrono::microseconds timed_get(int port, const std::string& path, int* status,
                                    std::chrono::milliseconds timeout);

// The p-th percentile (0..100) of `samples`.
std::chrono::microseconds percentile(std::vector<std::chrono::microseconds> samples, double p);

// Raises this process's fd soft limit to the hard one (a thousand attack connections).
void raise_fd_limit();

}  // namespace goscry::testing
