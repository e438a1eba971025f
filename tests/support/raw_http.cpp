#include "tests/support/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace goscry::testing {

using Clock = std::chrono::steady_clock;

RawConnection::RawConnection(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return;
  }
  fd_ = fd;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
}

RawConnection::RawConnection(RawConnection&& o) noexcept
    : fd_(o.fd_), buffered_(std::move(o.buffered_)) {
  o.fd_ = -1;
}

bool RawConnection::send(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

namespace {

std::string lower_head(const std::string& response, std::size_t end) {
  std::string head = response.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(), ::tolower);
  return head;
}

bool chunked(const std::string& head) {
  return head.find("\r\ntransfer-encoding: chunked") != std::string::npos;
}

// Walks the chunks of a chunked body from `at`: appends their data to `data` and their
// sizes to `sizes` (each if given) and returns the offset after the last chunk, or 0 when
// the body is not all there yet.
std::size_t walk_chunks(const std::string& b, std::size_t at, std::string* data,
                        std::vector<std::size_t>* sizes = nullptr) {
  for (;;) {
    auto eol = b.find("\r\n", at);
    if (eol == std::string::npos) return 0;
    const std::size_t size = std::stoul(b.substr(at, eol - at), nullptr, 16);
    if (b.size() < eol + 2 + size + 2) return 0;
    if (data) data->append(b, eol + 2, size);
    if (sizes && size) sizes->push_back(size);
    at = eol + 2 + size + 2;
    if (size == 0) return at;
  }
}

// The length of the first whole response in `b`, or 0 when it is not all there yet.
std::size_t whole_response(const std::string& b) {
  auto end = b.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  const std::string head = lower_head(b, end);
  if (chunked(head)) return walk_chunks(b, end + 4, nullptr);
  std::size_t length = 0;
  auto cl = head.find("\r\ncontent-length:");
  if (cl != std::string::npos) length = std::stoul(head.substr(cl + 17));
  return b.size() >= end + 4 + length ? end + 4 + length : 0;
}

// Reads what is there within `deadline` into `b`; false on close, error or timeout.
bool read_more(int fd, std::string& b, Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
  char buf[65536];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return false;
  b.append(buf, static_cast<std::size_t>(n));
  return true;
}

}  // namespace

std::vector<std::string> RawConnection::responses(std::size_t n,
                                                  std::chrono::milliseconds timeout) {
  std::vector<std::string> out;
  auto deadline = Clock::now() + timeout;
  while (out.size() < n) {
    if (std::size_t len = whole_response(buffered_)) {
      out.push_back(buffered_.substr(0, len));
      buffered_.erase(0, len);
      continue;
    }
    if (!read_more(fd_, buffered_, deadline)) break;
  }
  return out;
}

bool RawConnection::read_until(const std::string& want, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto at = buffered_.find(want); at != std::string::npos) {
      buffered_.erase(0, at + want.size());
      return true;
    }
    if (!read_more(fd_, buffered_, deadline)) return false;
  }
}

std::string RawConnection::until_close(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (read_more(fd_, buffered_, deadline)) {
  }
  return std::exchange(buffered_, {});
}

bool RawConnection::closed_by_peer() {
  pollfd p{fd_, POLLRDHUP, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void RawConnection::reset_on_close() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

std::string post_request(const std::string& path, const std::string& body,
                         const std::string& content_type) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: goscry-test\r\n" +
         "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string get_request(const std::string& path, bool keep_alive) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: goscry-test\r\n" +
         (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

std::string body_of(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  if (end == std::string::npos) return "";
  if (!chunked(lower_head(response, end))) return response.substr(end + 4);
  std::string data;
  walk_chunks(response, end + 4, &data);
  return data;
}

std::vector<std::size_t> chunk_sizes(const std::string& response) {
  std::vector<std::size_t> sizes;
  auto end = response.find("\r\n\r\n");
  if (end != std::string::npos && chunked(lower_head(response, end)))
    walk_chunks(response, end + 4, nullptr, &sizes);
  return sizes;
}

std::chrono::microseconds timed_get(int port, const std::string& path, int* status,
                                    std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  RawConnection c(port);
  *status = 0;
  if (c.ok() && c.send(get_request(path, false))) {
    auto r = c.responses(1, timeout);
    if (!r.empty()) *status = status_of(r[0]);
  }
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  return *status ? took : std::chrono::microseconds(timeout);
}

std::chrono::microseconds percentile(std::vector<std::chrono::microseconds> samples, double p) {
  if (samples.empty()) return {};
  std::sort(samples.begin(), samples.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(i, samples.size() - 1)];
}

void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace goscry::testing
