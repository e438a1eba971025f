// Runs a piece of a test in a forked child — one that drops capabilities or becomes
// "nobody" — and brings back the one string it produced.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace goscry::testing {

// The string `body` returned in the child; "child failed" when the child died or could not
// send it back.
std::string in_child(const std::function<std::string()>& body);

// For use inside in_child: drop these capabilities (CAP_* numbers) from the effective set.
bool drop_effective_capabilities(const std::vector<int>& caps);

// For use inside in_child: become "nobody" (uid/gid 65534), losing every capability.
bool become_nobody();

}  // namespace goscry::testing
