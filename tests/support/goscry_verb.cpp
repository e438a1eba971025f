#include "tests/support/goscry_verb.h"

namespace goscry::testing {

::testing::AssertionResult attached(ChildProcess& goscry, int timeout_ms) {
  auto line = goscry.read_err_line(timeout_ms);
  if (line && line->find("watching pid") != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "goscry did not attach: "
         << line.value_or("(nothing in " + std::to_string(timeout_ms / 1000) + " s)") << "\n"
         << goscry.rest_of_stderr();
}

void for_each_watched_churn(
    const std::function<bool(const Fixture&)>& pick, const std::string& verb,
    const std::vector<std::string>& flags,
    const std::function<void(const Fixture&, ChildProcess& fixture, ChildProcess& goscry)>& body) {
  for (const auto& f : all_fixtures("churn")) {
    if (!pick(f)) continue;
    SCOPED_TRACE(f.label());
    ChildProcess fixture({f.path});
    ASSERT_EQ(fixture.read_line(), "ready");
    std::vector<std::string> argv = {goscry_binary(), verb, "--pid", std::to_string(fixture.pid())};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ChildProcess goscry(argv);
    ASSERT_TRUE(attached(goscry));
    body(f, fixture, goscry);
  }
}

}  // namespace goscry::testing
