// Which capabilities goscry lacks to probe a process, named in one sentence (docs/architecture.md
// decision 12): CAP_BPF and CAP_PERFMON load programs and create uprobes, CAP_SYS_PTRACE
// reads the target's memory. CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON.
#pragma once

#include <optional>
#include <string>

namespace goscry {

// nullopt when every capability is held; else "goscry needs CAP_BPF, CAP_PERFMON (run as
// root or grant them with setcap/securityContext)".
std::optional<std::string> missing_privileges();

}  // namespace goscry
