// Where the tests find their inputs: Go fixtures built by the build (manifest.txt), the
// goscry binary, and the Go toolchains that serve as oracles.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace goscry::testing {

struct Fixture {
  std::string go_version;  // "go1.27.3"
  std::string name;        // directory name under tests/fixtures
  std::string variant;     // plain | stripped | pie | cgo
  std::string path;
  std::string goarch = "amd64";  // of the program; the host's unless a test asks for another
  std::string label() const {
    return go_version + "/" + (goarch == "amd64" ? "" : goarch + "/") + name + "-" + variant;
  }
};

// Every fixture binary the build produced, optionally only those named `name`. Those of
// the host's architecture, which a test can run; `goarch` "arm64" gives the few built for
// arm64 instead (manifest-arm64.txt: plain, stripped and PIE), read as files only.
std::vector<Fixture> all_fixtures(const std::string& name = "", const std::string& goarch = "");

// The fixture `name` in `variant` built with the newest toolchain; nullopt when none was.
std::optional<Fixture> newest_fixture(const std::string& name,
                                      const std::string& variant = "plain");

// The goplugin fixture of one toolchain: a host program and a Go plugin it can load. It sits
// out of the manifest (goscry refuses a process that loaded a plugin); the host run without
// the plugin is an ordinary cgo program.
struct PluginBuild {
  std::string go_version, host, plugin;
};
// Every toolchain's goplugin build (OUTDIR/unsupported/<go-version>/), oldest first.
std::vector<PluginBuild> plugin_builds();

std::string goscry_binary();
std::string source_dir();

// A `go` that can run `go tool addr2line|nm|pprof` (>= 1.21, from scripts/go-env.sh).
std::string go_command();

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs argv (no shell), feeding `input` to stdin; captures stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& input = "");

// Starts argv (PATH lookup, no shell) with `in`, `out` and `err` as its stdin, stdout and
// stderr (-1: the test's own) and `env` ("NAME=value") added to the inherited environment;
// a program that cannot be started exits 127. With `die_with_test` the child is killed
// when the test binary dies (PR_SET_PDEATHSIG). The pid, or -1 when fork fails. What
// run_command, ChildProcess, LiveProcess and PrometheusServer start their programs with.
pid_t start_program(const std::vector<std::string>& argv, int in, int out, int err,
                    const std::vector<std::string>& env = {}, bool die_with_test = false);

std::vector<std::string> split_lines(const std::string& s);

// A pid above the kernel's pid_max: no process can ever have it.
pid_t never_a_pid();

// The number in a "<prefix> 0x1234" line a fixture printed about itself (a test failure
// when there is none).
std::uint64_t printed_address(const std::string& output, const std::string& prefix);

}  // namespace goscry::testing
