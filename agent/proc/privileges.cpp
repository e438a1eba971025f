#include "agent/proc/privileges.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

namespace goscry {

namespace {

// Not in every libc header yet (CAP_BPF, CAP_PERFMON: Linux 5.8).
constexpr int kCapSysPtrace = 19;
constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

// The effective capability set of this process, as a 64-bit mask.
std::uint64_t effective_caps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return 0;
  return std::uint64_t(data[0].effective) | (std::uint64_t(data[1].effective) << 32);
}

bool has(std::uint64_t caps, int cap) { return (caps >> cap) & 1; }

}  // namespace

std::optional<std::string> missing_privileges() {
  const std::uint64_t caps = effective_caps();
  const bool admin = has(caps, kCapSysAdmin);
  std::vector<std::string> missing;
  if (!admin && !has(caps, kCapBpf)) missing.push_back("CAP_BPF");
  if (!admin && !has(caps, kCapPerfmon)) missing.push_back("CAP_PERFMON");
  if (!has(caps, kCapSysPtrace)) missing.push_back("CAP_SYS_PTRACE");
  if (missing.empty()) return std::nullopt;
  std::string names;
  for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
  return "goscry needs " + names +
         " to probe Go processes (run it as root or grant the capabilities)";
}

}  // namespace goscry
