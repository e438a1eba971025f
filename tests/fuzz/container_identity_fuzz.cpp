// The container labels' parsers on arbitrary bytes: the input as a /proc/PID/cgroup file
// (kernel-written, but the path names in it are chosen by whoever made the cgroups) and as
// an environment block (written by the target itself).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/proc/container_identity.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string id = goscry::container_id_from_cgroup(text);
  if (!id.empty() && id.size() != 64) __builtin_trap();  // only whole ids come out
  (void)goscry::environ_value(text, "HOSTNAME");
  (void)goscry::environ_value(text, "");
  return 0;
}
