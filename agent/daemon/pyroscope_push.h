// Pushing CPU profiles to a Pyroscope-compatible server (Grafana Pyroscope, Grafana Alloy's
// pyroscope.receive_http, anything that speaks Pyroscope's HTTP ingest API), in the shape
// Pyroscope's own Go SDK (pyroscope-go, upstream/remote) sends:
//
//   POST <base>/ingest?name=APP{k=v,...}&from=UNIX_S&until=UNIX_S&spyName=goscry
//        &sampleRate=HZ&units=samples&aggregationType=sum
//   Content-Type: multipart/form-data; boundary=...
//   one form file "profile" (filename profile.pprof): the gzipped pprof
//
// No `format` parameter: Pyroscope's ingest handler reads the body as a bare pprof when
// format=pprof, and as a form only without it (pkg/ingester/pyroscope/ingest_handler.go).
// With a pprof body, `name` is the application's prefix: the server appends the profile
// type (APP.cpu{...}).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "symbolizer/error.h"

namespace goscry {

struct PyroscopePush {
  std::string name;         // APP{labels}, see pyroscope_name()
  std::int64_t from_s = 0;  // Unix seconds
  std::int64_t until_s = 0;
  int hz = 0;
  std::string profile_gz;
};

// APP{pid=P,k=v,...}: APP is the executable's base name (what a Go program would call its
// service), with characters Pyroscope's name syntax reserves replaced by '_'.
std::string pyroscope_name(const std::string& exe, pid_t pid,
                           const std::map<std::string, std::string>& labels);

// The ingest request's path and query for `base_url` (its path kept: a server behind a
// prefix), e.g. "/ingest?name=...".
Result<std::string> pyroscope_target(const std::string& base_url, const PyroscopePush& push);

// Sends one profile; the error names the URL and the server's status and answer.
Result<void> push_to_pyroscope(const std::string& base_url, const PyroscopePush& push);

}  // namespace goscry
