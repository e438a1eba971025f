// A real Go server of the realworld suite (built by scripts/build-realworld.sh from its
// pinned module version) run as its users run it, on loopback, with a temporary directory
// for its config and data; and the checks the suite makes on each one against its own
// runtime's answers (its /debug/pprof/goroutine?debug=2).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

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

// The goroutines a debug=2 traceback counts that exist only while it is written: the one
// writing it (in runtime/pprof.writeGoroutineStacks) and those it started (net/http's
// background read of the connection), by id.
std::vector<std::string> goroutines_serving_traceback(const std::string& debug2);

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
