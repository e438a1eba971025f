#include "agent/daemon/profiling_config.h"

#include <yaml-cpp/yaml.h>

#include <regex>

#include "agent/daemon/yaml_value.h"
#include "agent/base/duration.h"

namespace goscry {
namespace {

// Pyroscope takes Prometheus label names; values end at ',' or '}' in its `name` syntax.
Result<void> check_label(const std::string& name, const std::string& value) {
  static const std::regex valid("[a-zA-Z_][a-zA-Z0-9_]*");
  if (!std::regex_match(name, valid))
    return fail(ErrorKind::BadInput,
                "pyroscope_labels: \"" + name + "\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
  if (value.find_first_of(",{}=\"") != std::string::npos)
    return fail(ErrorKind::BadInput,
                "pyroscope_labels: " + name + ": a value may not hold , { } = or \"");
  return {};
}

}  // namespace

Result<void> check_profile_hz(int hz) {
  if (hz < 0 || hz > 1000) return fail(ErrorKind::BadInput, "must be between 0 (off) and 1000");
  return {};
}

Result<void> apply_profiling_key(ProfilingConfig& c, const std::string& key,
                                 const YAML::Node& v) {
  if (key == "profile_hz") {
    auto hz = yaml_value<int>(v, key);
    if (!hz) return std::unexpected(hz.error());
    if (auto r = check_profile_hz(*hz); !r) return context(r.error(), key);
    c.profile_hz = *hz;
  } else if (key == "pyroscope_url") {
    auto url = yaml_value<std::string>(v, key);
    if (!url) return std::unexpected(url.error());
    if (!url->empty() && !url->starts_with("http://") && !url->starts_with("https://"))
      return fail(ErrorKind::BadInput, key + ": must start with http:// or https://");
    c.pyroscope_url = *url;
  } else if (key == "pyroscope_interval") {
    auto s = yaml_value<std::string>(v, key);
    if (!s) return std::unexpected(s.error());
    auto d = parse_window(key, *s);
    if (!d) return std::unexpected(d.error());
    if (*d < std::chrono::seconds(1))
      return fail(ErrorKind::BadInput, key + ": must be at least 1s");
    c.pyroscope_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  } else if (key == "pyroscope_labels") {
    if (!v.IsMap())
      return fail(ErrorKind::BadInput, key + ": must be a mapping of label names to values");
    c.pyroscope_labels.clear();
    for (const auto& kv : v) {
      auto name = yaml_value<std::string>(kv.first, key);
      auto value = yaml_value<std::string>(kv.second, key);
      if (!name || !value)
        return fail(ErrorKind::BadInput, key + ": names and values must be strings");
      if (auto r = check_label(*name, *value); !r) return r;
      c.pyroscope_labels[*name] = *value;
    }
  }
  return {};
}

}  // namespace goscry
