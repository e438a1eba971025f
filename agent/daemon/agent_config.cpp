#include "agent/daemon/agent_config.h"
#include "agent/daemon/profiling_config.h"
#include "agent/daemon/yaml_value.h"
#include "agent/base/duration.h"
#include "symbolizer/input_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace goscry {
namespace {

const std::set<std::string> kKeys = {"targets",     "all",          "listen", "health_listen",
                                     "web_config_file", "max_targets", "site_cap",
                                     "grace_period", "scan_interval", "log_level",
                                     "log_format", "profile_hz",  "pyroscope_url",
                                     "pyroscope_interval", "pyroscope_labels",
                                     "include", "exclude", "max_targets_per_namespace",
                                     "kubernetes", "kubernetes_pods_url", "kubernetes_node",
                                     "kubernetes_token_file", "kubernetes_ca_file",
                                     "kubernetes_refresh_interval", "pod_labels",
                                     "memory_budget_mib", "symbol_cache_mib", "trace"};

// A Kubernetes label key: an optional DNS-subdomain prefix and "/", then a name of
// alphanumerics, '-', '_' and '.' (k8s.io/apimachinery validation, simplified).
bool is_label_key(const std::string& k) {
  return !k.empty() && k.size() <= 316 && std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

Result<std::vector<std::string>> parse_pod_labels(const YAML::Node& v) {
  if (!v.IsSequence()) return fail(ErrorKind::BadInput, "pod_labels: must be a list of label keys");
  std::vector<std::string> keys;
  std::set<std::string> exported;
  for (const auto& item : v) {
    auto k = yaml_value<std::string>(item, "pod_labels");
    if (!k) return std::unexpected(k.error());
    if (!is_label_key(*k))
      return fail(ErrorKind::BadInput, "pod_labels: \"" + *k + "\" is not a label key");
    if (!exported.insert(pod_label_metric_name(*k)).second)
      return fail(ErrorKind::BadInput, "pod_labels: \"" + *k + "\" becomes the same label " +
                                           pod_label_metric_name(*k) + " as another one");
    keys.push_back(*k);
  }
  if (keys.size() > 32) return fail(ErrorKind::BadInput, "pod_labels: at most 32 labels");
  return keys;
}

Result<void> apply_kube_key(KubeSettings& k, const std::string& key, const YAML::Node& v) {
  if (key == "pod_labels") {
    auto labels = parse_pod_labels(v);
    if (!labels) return std::unexpected(labels.error());
    k.pod_labels = *labels;
    return {};
  }
  auto s = yaml_value<std::string>(v, key);
  if (!s) return std::unexpected(s.error());
  if (key == "kubernetes") {
    if (*s != "auto" && *s != "on" && *s != "off")
      return fail(ErrorKind::BadInput, "kubernetes: must be auto, on or off");
    k.mode = *s == "on" ? KubeMode::kOn : *s == "off" ? KubeMode::kOff : KubeMode::kAuto;
  } else if (key == "kubernetes_refresh_interval") {
    auto d = parse_window(key, *s);
    if (!d) return std::unexpected(d.error());
    k.refresh_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    if (k.refresh_interval < std::chrono::seconds(1))
      return fail(ErrorKind::BadInput, key + ": at least 1s");
  } else {
    (key == "kubernetes_pods_url"   ? k.pods_url
     : key == "kubernetes_node"     ? k.node_name
     : key == "kubernetes_token_file" ? k.token_file
                                      : k.ca_file) = *s;
  }
  return {};
}

Result<void> apply_selection_key(TargetSelection& sel, const std::string& key,
                                 const YAML::Node& v) {
  if (key == "max_targets_per_namespace") {
    auto n = yaml_value<long long>(v, key);
    if (!n) return std::unexpected(n.error());
    if (*n < 0 || *n > 100000)
      return fail(ErrorKind::BadInput, key + ": must be between 0 (no cap) and 100000");
    sel.max_targets_per_namespace = size_t(*n);
    return {};
  }
  auto list = parse_selectors(v, key);
  if (!list) return std::unexpected(list.error());
  (key == "include" ? sel.include : sel.exclude) = std::move(*list);
  return {};
}

Result<size_t> positive(const YAML::Node& n, const std::string& key, size_t max) {
  auto v = yaml_value<long long>(n, key);
  if (!v) return std::unexpected(v.error());
  if (*v < 1 || size_t(*v) > max)
    return fail(ErrorKind::BadInput, key + ": must be between 1 and " + std::to_string(max));
  return size_t(*v);
}

Result<void> apply_key(AgentConfig& c, const std::string& key, const YAML::Node& v) {
  if (key == "targets") {
    if (!v.IsSequence()) return fail(ErrorKind::BadInput, "targets: must be a list of pids");
    c.targets.clear();
    for (const auto& item : v) {
      auto pid = positive(item, "targets", 1u << 22);  // PID_MAX_LIMIT
      if (!pid) return std::unexpected(pid.error());
      c.targets.push_back(pid_t(*pid));
    }
  } else if (key == "trace") {
    auto list = parse_selectors(v, key);
    if (!list) return std::unexpected(list.error());
    c.trace = std::move(*list);
  } else if (key == "all") {
    auto b = yaml_value<bool>(v, key);
    if (!b) return std::unexpected(b.error());
    c.all = *b;
  } else if (key == "listen" || key == "health_listen" || key == "web_config_file") {
    auto s = yaml_value<std::string>(v, key);
    if (!s) return std::unexpected(s.error());
    (key == "listen" ? c.listen : key == "health_listen" ? c.health_listen : c.web_config_file) =
        *s;
  } else if (key == "max_targets" || key == "site_cap") {
    auto n = positive(v, key, key == "max_targets" ? 100000 : 1000);
    if (!n) return std::unexpected(n.error());
    (key == "max_targets" ? c.max_targets : c.site_cap) = *n;
  } else if (key == "memory_budget_mib" || key == "symbol_cache_mib") {
    auto n = positive(v, key, 1u << 20);  // 1 TiB
    if (!n) return std::unexpected(n.error());
    (key == "memory_budget_mib" ? c.memory_budget_mib : c.symbol_cache_mib) = *n;
  } else if (key == "grace_period" || key == "scan_interval") {
    auto s = yaml_value<std::string>(v, key);
    if (!s) return std::unexpected(s.error());
    auto d = parse_window(key, *s);
    if (!d) return std::unexpected(d.error());
    (key == "grace_period" ? c.grace_period : c.scan_interval) =
        std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  } else if (key == "log_level") {
    auto s = yaml_value<std::string>(v, key);
    if (!s) return std::unexpected(s.error());
    auto l = log::parse_level(*s);
    if (!l) return context(l.error(), key);
    c.log_level = *l;
  } else if (key == "log_format") {
    auto s = yaml_value<std::string>(v, key);
    if (!s) return std::unexpected(s.error());
    auto f = log::parse_format(*s);
    if (!f) return context(f.error(), key);
    c.log_format = *f;
  } else if (key == "include" || key == "exclude" || key == "max_targets_per_namespace") {
    return apply_selection_key(c.selection, key, v);
  } else if (key.starts_with("kubernetes") || key == "pod_labels") {
    return apply_kube_key(c.kube, key, v);
  } else {
    return apply_profiling_key(c, key, v);
  }
  return {};
}

}  // namespace

Result<AgentConfig> parse_agent_config(const std::string& yaml) {
  AgentConfig c;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return fail(ErrorKind::BadInput,
                "not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) + ")");
  }
  if (root.IsNull()) return c;  // an empty file: all defaults
  if (!root.IsMap()) return fail(ErrorKind::BadInput, "must be a YAML mapping of settings");
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    if (!kKeys.contains(key)) return fail(ErrorKind::BadInput, "unknown key \"" + key + "\"");
    if (auto r = apply_key(c, key, kv.second); !r) return std::unexpected(r.error());
  }
  return c;
}

Result<AgentConfig> load_agent_config(const ConfigFlags& flags) {
  AgentConfig c;
  if (!flags.config_file.empty()) {
    auto text = read_input_file(flags.config_file, "--config");
    if (!text) return std::unexpected(text.error());
    auto parsed = parse_agent_config(*text);
    if (!parsed) return context(parsed.error(), flags.config_file);
    c = *parsed;
  }
  // Flags win; --pid adds to the file's targets rather than replacing them.
  c.targets.insert(c.targets.end(), flags.pids.begin(), flags.pids.end());
  if (flags.all) c.all = *flags.all;
  if (flags.listen) c.listen = *flags.listen;
  if (flags.health_listen) c.health_listen = *flags.health_listen;
  if (flags.web_config_file) c.web_config_file = *flags.web_config_file;
  if (flags.log_level) {
    auto l = log::parse_level(*flags.log_level);
    if (!l) return context(l.error(), "--log-level");
    c.log_level = *l;
  }
  if (flags.log_format) {
    auto f = log::parse_format(*flags.log_format);
    if (!f) return context(f.error(), "--log-format");
    c.log_format = *f;
  }
  if (flags.profile_hz) {
    if (auto r = check_profile_hz(*flags.profile_hz); !r) return context(r.error(), "--profile-hz");
    c.profile_hz = *flags.profile_hz;
  }
  if (auto a = parse_listen_address(c.listen); !a) return std::unexpected(a.error());
  if (!c.health_listen.empty())
    if (auto a = parse_listen_address(c.health_listen); !a)
      return context(a.error(), "health_listen");
  return c;
}

Result<std::pair<std::string, int>> parse_listen_address(const std::string& addr) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::BadInput, "listen address \"" + addr + "\": " + why +
                                         " (want HOST:PORT, e.g. " + kDefaultListen + ")");
  };
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string host = addr.substr(0, colon);
  std::string port = addr.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
    return bad("bad port");
  return std::pair{host, std::stoi(port)};
}

}  // namespace goscry
