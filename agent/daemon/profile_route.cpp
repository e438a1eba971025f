// /debug/pprof/profile?pid=P&seconds=N: the shape of Go's net/http/pprof Profile handler
// (collect for N seconds from now, answer a gzipped pprof as an attachment named
// "profile"), with the target named by its pid. Unlike Go, a bad `seconds` is an error
// (400) rather than silently 30: a typo should not cost the caller half a minute.
#include <httplib.h>

#include <string>

#include "agent/daemon/cpu_profiler.h"
#include "agent/http/http_server.h"

namespace goscry {
namespace {

// A whole positive decimal number of at most 9 digits, else nullopt.
std::optional<long> whole_number(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stol(s);
}

void refuse(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(message + "\n", "text/plain; charset=utf-8");
}

}  // namespace

void add_profile_route(HttpServer& server, CpuProfiler& profiler) {
  server.get(
      "/debug/pprof/profile", [&profiler](const httplib::Request& req, httplib::Response& res) {
        auto pid = whole_number(req.get_param_value("pid"));
        if (!pid || *pid <= 0)
          return refuse(res, 400,
                        "give the target as pid=P (a tracked Go process, see /api/v1/targets)");
        long seconds = 30;
        if (req.has_param("seconds")) {
          auto s = whole_number(req.get_param_value("seconds"));
          if (!s || *s < 1 || *s > kMaxProfileSeconds)
            return refuse(
                res, 400,
                "seconds must be a whole number from 1 to " + std::to_string(kMaxProfileSeconds));
          seconds = *s;
        }
        auto profile = profiler.collect(static_cast<pid_t>(*pid), std::chrono::seconds(seconds),
                                        HttpServer::client_gone);
        if (!profile) return refuse(res, profile.error().status, profile.error().message);
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_header("Content-Disposition", "attachment; filename=\"profile\"");
        res.set_content(std::move(*profile), "application/octet-stream");
      });
}

}  // namespace goscry
