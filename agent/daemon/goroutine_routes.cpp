#include "agent/daemon/goroutine_routes.h"

#include <httplib.h>

#include <charconv>

#include "exporters/json_report.h"

namespace goscry {
namespace {

constexpr const char* kText = "text/plain; charset=utf-8";

void answer(httplib::Response& res, int status, const std::string& sentence) {
  res.status = status;
  res.set_content(sentence + "\n", kText);
}

// The pid of ?pid=P, or 0 after answering 400.
pid_t pid_param(const httplib::Request& req, httplib::Response& res) {
  const std::string v = req.get_param_value("pid");
  int pid = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), pid);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || pid <= 0) {
    answer(res, 400, "give the target's pid: ?pid=P (a positive number)");
    return 0;
  }
  return pid;
}

// debug=0 (default), 1 or 2, or -1 after answering 400.
int debug_param(const httplib::Request& req, httplib::Response& res) {
  if (!req.has_param("debug")) return 0;
  const std::string v = req.get_param_value("debug");
  if (v == "0" || v == "1" || v == "2") return v[0] - '0';
  answer(res, 400, "debug must be 0 (pprof), 1 (counts) or 2 (tracebacks)");
  return -1;
}

// The tracebacks leave in chunks as they are written (HttpServer streams a chunked content
// provider), never whole in memory.
void stream_text(httplib::Response& res, PieceWriter stream) {
  res.set_chunked_content_provider(
      kText, [stream = std::move(stream)](std::size_t, httplib::DataSink& sink) {
        if (!stream([&sink](std::string_view piece) {
              return sink.write(piece.data(), piece.size());
            }))
          return false;
        sink.done();
        return true;
      });
}

// Go's net/http/pprof answers debug=0 as a download named after the profile.
void profile_route(HttpServer& server, LeakSource& leaks, const std::string& name,
                   Result<GoroutineAnswer> (LeakSource::*make)(pid_t, int)) {
  server.get_heavy("/debug/pprof/" + name, [&leaks, name, make](const httplib::Request& req,
                                                          httplib::Response& res) {
    const pid_t pid = pid_param(req, res);
    if (!pid) return;
    const int debug = debug_param(req, res);
    if (debug < 0) return;
    if (!leaks.tracks(pid)) return answer(res, 404, "pid " + std::to_string(pid) +
                                                        " is not a target of this agent");
    auto made = (leaks.*make)(pid, debug);
    if (!made) return answer(res, 500, made.error().message);
    if (made->stream) return stream_text(res, std::move(made->stream));
    if (debug == 0) {
      res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
      res.set_content(std::move(made->body), "application/octet-stream");
    } else {
      res.set_content(std::move(made->body), kText);
    }
  });
}

}  // namespace

void add_goroutine_routes(HttpServer& server, LeakSource& leaks) {
  profile_route(server, leaks, "goroutine", &LeakSource::goroutine_profile);
  profile_route(server, leaks, "goroutineleak", &LeakSource::leak_profile);
  server.get("/api/v1/leaks", [&leaks](const httplib::Request& req, httplib::Response& res) {
    if (req.has_param("pid")) {
      const pid_t pid = pid_param(req, res);
      if (!pid) return;
      auto report = leaks.leaks_report(pid);
      if (!report) return answer(res, 404, "pid " + std::to_string(pid) +
                                               " is not a target of this agent");
      return res.set_content(json_report::to_line(*report) + "\n", "application/json");
    }
    auto j = json_report::envelope("agent_leaks", 1);
    j["targets"] = leaks.leaks_reports();
    res.set_content(json_report::to_line(j) + "\n", "application/json");
  });
}

}  // namespace goscry
