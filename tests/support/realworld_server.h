// A real Go server of the realworld suite (built by scripts/build-realworld.sh from its
// pinned module version) run as its users run it, on loopback, with a temporary directory
// for its config and data; and the checks the suite makes on each one against its own
// runtime's answers (its /debug/pprof/goroutine?debug=2).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "symbolizer/error.h"
#include "tests/support/traceback_sandwich.h"

namespace goscry::testing {

// The path of the server `name` that scripts/build-realworld.sh built (its manifest in the
// build directory), or nullopt when it could not be built.
std::optional<std::string> realworld_binary(const std::string& name);

class RealServer {
 public:
  // A fresh temporary directory named for `name`, for the server's files; start() runs it.
  explicit RealServer(const std::string& name);
  ~RealServer();
  RealServer(const RealServer&) = delete;
  RealServer& operator=(const RealServer&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  // Starts argv with `env` added, its output in dir()/output.log.
  void start(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  pid_t pid() const { return pid_; }
  // What it printed so far (for a failure's message).
  std::string output() const;

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

// A server of the suite started as its users run it, answering on loopback: where to ask it
// for its own answers, and one step of the load its users put on it.
class SuiteServer {
 public:
  virtual ~SuiteServer() = default;
  virtual std::string name() const = 0;
  virtual pid_t pid() const = 0;
  // The port of its net/http/pprof handlers (/debug/pprof/*).
  virtual int pprof_port() const = 0;
  // The port its clients connect to (NATS' protocol, the HTTP API).
  virtual int client_port() const = 0;
  // The port of its own Prometheus /metrics (go_gc_duration_seconds, go_goroutines), when
  // it has one.
  virtual std::optional<int> metrics_port() const { return std::nullopt; }
  // How many goroutines live only while its /metrics is served and are counted in its
  // go_goroutines, when that number is fixed.
  virtual std::optional<int> goroutines_serving_metrics() const { return std::nullopt; }
  // One unit of load, back when its answers came; false when the server did not answer.
  // Called from one thread at a time.
  virtual bool load_step() = 0;
};

// The three servers of the suite, started and answering: Debian's prometheus (PromQL range
// queries), nats-server with JetStream (publishes to a subscriber), VictoriaMetrics
// single-node (inserts and range queries). NotFound when its binary is not there (a skip,
// a failure under CI=true); another error when it did not come up.
Result<std::unique_ptr<SuiteServer>> start_prometheus();
Result<std::unique_ptr<SuiteServer>> start_nats();
Result<std::unique_ptr<SuiteServer>> start_victoria_metrics();

// Starts a suite server into `var` (a std::unique_ptr<SuiteServer>) in a test body: skips
// when its binary is missing (fails under CI=true), fails when it did not come up.
#define START_SUITE_SERVER(var, starter)                              \
  std::unique_ptr<::goscry::testing::SuiteServer> var;                \
  if (auto started = (starter)(); started) {                          \
    var = std::move(*started);                                        \
  } else if (started.error().kind == ::goscry::ErrorKind::NotFound && \
             !::goscry::testing::under_ci()) {                        \
    GTEST_SKIP() << started.error().message;                          \
  } else {                                                            \
    FAIL() << started.error().message;                                \
  }

// The goroutines a debug=2 traceback counts that exist only while it is written: the one
// writing it (in runtime/pprof.writeGoroutineStacks) and those it started (net/http's
// background read of the connection), by id.
std::vector<std::string> goroutines_serving_traceback(const std::string& debug2);

class RawConnection;
// The program's traceback at `path` over `c`, a connection kept open; empty when it did not
// answer.
std::string debug2_over(RawConnection& c, const std::string& path);
// The goroutines of a debug=2 traceback alive apart from the request for it: its
// connection's goroutine is counted (it lives on, idle, between requests over a connection
// kept open) but not what it started for the request.
std::int64_t own_live_count(const std::string& debug2);

// The checks of the suite on a running server whose traceback is at `debug2_url`, printed
// under `name`: (1) `goscry dump` byte-identical to its debug=2 for every goroutine that held
// still (at least `min_compared` of them); (2) `goscry top --once`'s live count equal to its
// own count (the goroutines of its debug=2 less the ones serving it), read through one
// keep-alive connection to `debug2_port` so that the connection's goroutine is there in
// both, compared at a moment when its count before and after agree.
void expect_goscry_agrees_with_own_runtime(const std::string& name, pid_t pid, int debug2_port,
                                           const std::string& debug2_path,
                                           std::size_t min_compared);

}  // namespace goscry::testing
