#include "agent/daemon/heap_routes.h"

#include <httplib.h>

#include <charconv>
#include <string>

namespace goscry {
namespace {

constexpr const char* kText = "text/plain; charset=utf-8";

void refuse(httplib::Response& res, int status, const std::string& sentence) {
  res.status = status;
  res.set_header("X-Content-Type-Options", "nosniff");
  if (status == 429) res.set_header("Retry-After", "1");
  res.set_content(sentence + "\n", kText);
}

// A whole number of at most 9 digits in [low, high], else nullopt.
std::optional<int> whole_number(const std::string& v, int low, int high) {
  int n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || v.size() > 9 || ec != std::errc() || end != v.data() + v.size() || n < low ||
      n > high)
    return std::nullopt;
  return n;
}

// The request of ?pid=P&debug=D&seconds=N, or nullopt after answering 400.
std::optional<HeapRequest> request_of(const httplib::Request& req, httplib::Response& res,
                                      bool allocs, int& debug) {
  HeapRequest r;
  r.allocs = allocs;
  auto pid = whole_number(req.get_param_value("pid"), 1, 1 << 30);
  if (!pid) {
    refuse(res, 400, "give the target's pid: ?pid=P (a tracked Go process, see /api/v1/targets)");
    return std::nullopt;
  }
  r.pid = *pid;
  debug = 0;
  if (req.has_param("debug")) {
    auto d = whole_number(req.get_param_value("debug"), 0, 1);
    if (!d) {
      refuse(res, 400, "debug must be 0 (pprof) or 1 (text)");
      return std::nullopt;
    }
    debug = *d;
  }
  if (req.has_param("gc") && req.get_param_value("gc") != "0") {
    refuse(res, 400, "gc=1 would run a GC in the target; goscry never runs code in a target");
    return std::nullopt;
  }
  if (req.has_param("seconds")) {
    auto s = whole_number(req.get_param_value("seconds"), 1, kMaxAllocsSeconds);
    if (!s) {
      refuse(res, 400,
             "seconds must be a whole number from 1 to " + std::to_string(kMaxAllocsSeconds));
      return std::nullopt;
    }
    r.seconds = *s;
    if (debug != 0) {  // as net/http/pprof
      refuse(res, 400, "seconds and debug params are incompatible");
      return std::nullopt;
    }
  }
  r.cancelled = HttpServer::client_gone;
  return r;
}

// Sends a profile as net/http/pprof does: debug=1 text, else a gzipped profile.proto
// attachment named "<name>", or "<name>-delta" for a window.
template <typename Answer, typename Text, typename Proto>
void send(httplib::Response& res, const std::string& name, const HeapRequest& r, int debug,
          const std::expected<Answer, HeapRefusal>& answer, Text text, Proto proto) {
  if (!answer) return refuse(res, answer.error().status, answer.error().message);
  res.set_header("X-Content-Type-Options", "nosniff");
  if (debug == 1) return res.set_content(text(answer->profile), kText);
  auto bytes = proto(*answer->process, answer->profile);
  if (!bytes) return refuse(res, 500, bytes.error().message);
  const std::string file = name + (r.seconds ? "-delta" : "");
  res.set_header("Content-Disposition", "attachment; filename=\"" + file + "\"");
  res.set_content(std::move(*bytes), "application/octet-stream");
}

void heap_route(HttpServer& server, HeapSource& heap, const std::string& name) {
  const bool allocs = name == "allocs";
  server.get("/debug/pprof/" + name, [&heap, name, allocs](const httplib::Request& req,
                                                          httplib::Response& res) {
    int debug = 0;
    auto r = request_of(req, res, allocs, debug);
    if (!r) return;
    send(res, name, *r, debug, heap.profile(*r), heap_profile_text, heap_profile_proto);
  });
}

void contention_route(HttpServer& server, HeapSource& heap, ContentionKind kind) {
  const std::string name = contention_name(kind);
  server.get("/debug/pprof/" + name, [&heap, name, kind](const httplib::Request& req,
                                                        httplib::Response& res) {
    int debug = 0;
    auto r = request_of(req, res, false, debug);
    if (!r) return;
    send(res, name, *r, debug, heap.contention(*r, kind), contention_profile_text,
         contention_profile_proto);
  });
}

}  // namespace

void add_heap_routes(HttpServer& server, HeapSource& heap) {
  heap_route(server, heap, "heap");
  heap_route(server, heap, "allocs");
  contention_route(server, heap, ContentionKind::kBlock);
  contention_route(server, heap, ContentionKind::kMutex);
}

}  // namespace goscry
