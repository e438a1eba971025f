#include "agent/daemon/target_selection.h"

#include <fnmatch.h>

#include "agent/daemon/yaml_value.h"

namespace goscry {
namespace {

// A glob longer than any path or name it could be matched with is a mistake, and fnmatch's
// backtracking on a long pattern of stars is what a hostile config would use.
constexpr std::size_t kMaxPattern = 4096;

bool glob_matches(const std::optional<std::string>& pattern, const std::string& value) {
  return !pattern || fnmatch(pattern->c_str(), value.c_str(), 0) == 0;
}

bool exe_matches(const std::optional<std::string>& pattern, const std::string& exe) {
  if (!pattern || pattern->find('/') != std::string::npos) return glob_matches(pattern, exe);
  return glob_matches(pattern, exe.substr(exe.rfind('/') + 1));
}

Result<void> set_field(TargetSelector& s, const std::string& field, const YAML::Node& v,
                       const std::string& where) {
  if (field == "pid") {
    auto pid = yaml_value<long long>(v, where + ".pid");
    if (!pid) return std::unexpected(pid.error());
    if (*pid < 1 || *pid > (1 << 22))  // PID_MAX_LIMIT
      return fail(ErrorKind::BadInput, where + ".pid: must be between 1 and 4194304");
    s.pid = pid_t(*pid);
    return {};
  }
  auto text = yaml_value<std::string>(v, where + "." + field);
  if (!text) return std::unexpected(text.error());
  if (text->empty() || text->size() > kMaxPattern)
    return fail(ErrorKind::BadInput, where + "." + field + ": must be a glob of 1 to " +
                                         std::to_string(kMaxPattern) + " characters");
  if (field == "exe") s.exe = *text;
  else if (field == "container_id") s.container_id = *text;
  else if (field == "namespace") s.kube_namespace = *text;
  else if (field == "pod") s.pod = *text;
  else if (field == "go_version") s.go_version = *text;
  else
    return fail(ErrorKind::BadInput, where + ": unknown field \"" + field +
                                         "\" (want exe, container_id, namespace, pod, go_version, pid)");
  return {};
}

Result<TargetSelector> parse_selector(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap() || n.size() == 0)
    return fail(ErrorKind::BadInput, where + ": must be a mapping of at least one field");
  TargetSelector s;
  for (const auto& kv : n) {
    auto field = yaml_value<std::string>(kv.first, where);
    if (!field) return std::unexpected(field.error());
    if (auto r = set_field(s, *field, kv.second, where); !r) return std::unexpected(r.error());
  }
  return s;
}

}  // namespace

bool selector_matches(const TargetSelector& s, const TargetInfo& t) {
  return (!s.pid || *s.pid == t.pid) && exe_matches(s.exe, t.exe) &&
         glob_matches(s.container_id, t.container_id) &&
         glob_matches(s.kube_namespace, t.kube_namespace) && glob_matches(s.pod, t.pod) &&
         glob_matches(s.go_version, t.go_version);
}

bool selected(const TargetSelection& s, const TargetInfo& t) {
  for (const auto& x : s.exclude)
    if (selector_matches(x, t)) return false;
  if (s.include.empty()) return true;
  for (const auto& i : s.include)
    if (selector_matches(i, t)) return true;
  return false;
}

Result<std::vector<TargetSelector>> parse_selectors(const YAML::Node& n, const std::string& key) {
  if (!n.IsSequence()) return fail(ErrorKind::BadInput, key + ": must be a list of selectors");
  std::vector<TargetSelector> out;
  for (std::size_t i = 0; i < n.size(); ++i) {
    auto s = parse_selector(n[i], key + "[" + std::to_string(i) + "]");
    if (!s) return std::unexpected(s.error());
    out.push_back(std::move(*s));
  }
  return out;
}

}  // namespace goscry
