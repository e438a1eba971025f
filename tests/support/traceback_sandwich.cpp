#include "tests/support/traceback_sandwich.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

namespace goscry::testing {

bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

std::map<std::string, std::string> traceback_blocks(const std::string& text) {
  std::map<std::string, std::string> out;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find("\n\n", at);
    if (end == std::string::npos) end = text.size();
    // The last block ends with the text's one newline: left out, so that a goroutine
    // printed last in one traceback and elsewhere in another compares alike.
    std::size_t stop = end;
    while (stop > at && text[stop - 1] == '\n') --stop;
    const std::string block = text.substr(at, stop - at);
    if (block.starts_with("goroutine ")) out[block.substr(10, block.find(' ', 10) - 10)] = block;
    at = end + 2;
  }
  return out;
}

SandwichResult compare_held_still(const std::string& before, const std::string& dump,
                                  const std::string& after) {
  const auto own = traceback_blocks(before), again = traceback_blocks(after),
             ours = traceback_blocks(dump);
  SandwichResult r;
  for (const auto& [id, block] : own) {
    auto still = again.find(id);
    if (still == again.end() || still->second != block) continue;  // it moved meanwhile
    ++r.compared;
    auto it = ours.find(id);
    if (it == ours.end())
      r.differences += "goroutine " + id + " missing from the dump; its own:\n" + block + "\n\n";
    else if (it->second != block)
      r.differences += "its own:\n" + block + "\ngoscry's:\n" + it->second + "\n\n";
    else
      ++r.identical;
  }
  return r;
}

SandwichResult dump_between_own_tracebacks(pid_t pid,
                                           const std::function<std::string()>& own_debug2,
                                           int attempts) {
  SandwichResult r;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const std::string before = own_debug2();
    auto dump = run_command({goscry_binary(), "dump", "--pid", std::to_string(pid)});
    const std::string after = own_debug2();
    EXPECT_EQ(dump.exit_code, 0) << dump.err;
    EXPECT_FALSE(before.empty() || after.empty()) << "the program's own debug=2 did not answer";
    if (dump.exit_code != 0 || before.empty() || after.empty()) return r;
    r = compare_held_still(before, dump.out, after);
    if (r.differences.empty()) break;
  }
  return r;
}

std::string http_body(const std::string& url) {
  const HttpReply r = http_get(url);
  return r.status >= 200 && r.status < 300 ? r.body : "";
}

std::string wait_for_http(const std::string& url, int timeout_s) {
  std::string body;
  poll_until([&] { return !(body = http_body(url)).empty(); }, std::chrono::seconds(timeout_s));
  return body;
}

}  // namespace goscry::testing
