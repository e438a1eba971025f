#include "agent/daemon/kube_pods.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>

#include "agent/base/log.h"
#include "symbolizer/input_file.h"

namespace goscry {
namespace {

using Clock = PeriodicWorker::Clock;

constexpr std::size_t kMaxTokenBytes = 64 << 10;
constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr auto kBodyDeadline = std::chrono::seconds(30);

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  auto start = s.find_first_not_of(" \t\r\n");
  return start == std::string::npos ? std::string() : s.substr(start);
}

struct SplitUrl {
  std::string scheme_host_port;
  std::string path_and_query;
};

Result<SplitUrl> split_url(const std::string& url) {
  bool https = url.starts_with("https://");
  if (!https && !url.starts_with("http://"))
    return fail(ErrorKind::BadInput, "kubernetes_pods_url \"" + url + "\": not an http(s) URL");
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= ' '; }))
    return fail(ErrorKind::BadInput,
                "kubernetes_pods_url \"" + url + "\": spaces or control characters");
  auto path_at = url.find('/', https ? 8 : 7);
  if (path_at == std::string::npos || path_at == (https ? 8u : 7u))
    return fail(ErrorKind::BadInput, "kubernetes_pods_url \"" + url + "\": no host or path");
  return SplitUrl{url.substr(0, path_at), url.substr(path_at)};
}

// GET of the pod list, bounded in time and size.
Result<std::string> fetch(const KubeEndpoint& e) {
  auto u = split_url(e.url);
  if (!u) return std::unexpected(u.error());
  httplib::Client client(u->scheme_host_port);
  client.set_connection_timeout(kConnectTimeout);
  client.set_read_timeout(kReadTimeout);
  client.set_write_timeout(kReadTimeout);
  client.set_keep_alive(false);
  client.set_url_encode(false);  // the URL is sent as configured, query included
  client.enable_server_certificate_verification(true);
  if (!e.ca_file.empty() && access(e.ca_file.c_str(), R_OK) == 0)
    client.set_ca_cert_path(e.ca_file.c_str());
  httplib::Headers headers = {{"Accept", "application/json"},
                              {"User-Agent", "goscry/" GOSCRY_VERSION}};
  // Read at every list: projected service-account tokens are rotated by the kubelet.
  if (auto token = read_input_file(e.token_file, "kubernetes_token_file", kMaxTokenBytes))
    headers.emplace("Authorization", "Bearer " + trimmed(*token));
  std::string body;
  bool too_big = false, too_slow = false;
  const auto deadline = Clock::now() + kBodyDeadline;
  auto res = client.Get(u->path_and_query.c_str(), headers,
                        [&](const char* data, size_t n) {
                          too_big = body.size() + n > KubePods::kMaxBodyBytes;
                          too_slow = Clock::now() > deadline;
                          if (too_big || too_slow) return false;
                          body.append(data, n);
                          return true;
                        });
  if (too_big)
    return fail(ErrorKind::Io, e.url + ": answer over " +
                                   std::to_string(KubePods::kMaxBodyBytes >> 20) + " MiB");
  if (too_slow) return fail(ErrorKind::Io, e.url + ": answer took over 30 s");
  if (!res) return fail(ErrorKind::Io, e.url + ": " + httplib::to_string(res.error()));
  if (res->status != 200)
    return fail(res->status == 401 || res->status == 403 ? ErrorKind::Permission : ErrorKind::Io,
                e.url + ": HTTP " + std::to_string(res->status));
  return body;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::optional<KubeEndpoint>> resolve_kube_endpoint(const KubeSettings& s, EnvLookup env) {
  if (s.mode == KubeMode::kOff) return std::nullopt;
  KubeEndpoint e{s.pods_url, s.token_file, s.ca_file};
  if (!e.url.empty()) {
    if (auto u = split_url(e.url); !u) return std::unexpected(u.error());
    return e;
  }
  const std::string host = env("KUBERNETES_SERVICE_HOST");
  const std::string port = env("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    if (s.mode == KubeMode::kAuto) return std::nullopt;  // not in a cluster
    return fail(ErrorKind::BadInput,
                "kubernetes: on, but no kubernetes_pods_url and no KUBERNETES_SERVICE_HOST/PORT "
                "in the environment");
  }
  const std::string node = s.node_name.empty() ? env("NODE_NAME") : s.node_name;
  // Without a node every pod of the cluster would be listed on every node.
  if (node.empty())
    return fail(ErrorKind::BadInput,
                "kubernetes: no node name: set NODE_NAME (the downward API's spec.nodeName) or "
                "kubernetes_node");
  if (std::any_of(node.begin(), node.end(), [](char c) {
        return !std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.';
      }))
    return fail(ErrorKind::BadInput, "kubernetes: node name \"" + node + "\": not a DNS name");
  const bool v6 = host.find(':') != std::string::npos;
  e.url = "https://" + (v6 ? "[" + host + "]" : host) + ":" + port +
          "/api/v1/pods?fieldSelector=spec.nodeName%3D" + node;
  return e;
}

namespace {
prometheus::CounterFamily& pod_lists(prometheus::Registry& r) {
  return r.counter("goscry_kube_pod_lists_total",
                   "Lists of this node's pods read from Kubernetes, by result (ok, error).",
                   {"result"});
}
}  // namespace

KubePods::KubePods(prometheus::Registry& registry)
    : lists_ok_(pod_lists(registry).with({"ok"})),
      lists_failed_(pod_lists(registry).with({"error"})),
      containers_(registry
                      .gauge("goscry_kube_containers",
                             "Containers with an id in the last good pod list.")
                      .with({})),
      last_success_(registry
                        .gauge("goscry_kube_pod_list_last_success_timestamp_seconds",
                               "When the pod list was last read successfully.")
                        .with({})) {}

KubePods::~KubePods() { stop(); }

void KubePods::stop() {
  if (worker_) worker_->stop();
}

void KubePods::configure(std::optional<KubeEndpoint> endpoint, const KubeSettings& s) {
  {
    std::lock_guard lock(mu_);
    bool same = endpoint_.has_value() == endpoint.has_value() && pod_labels_ == s.pod_labels &&
                (!endpoint || (endpoint_->url == endpoint->url &&
                               endpoint_->token_file == endpoint->token_file &&
                               endpoint_->ca_file == endpoint->ca_file));
    interval_ = s.refresh_interval;
    if (same) return;
    endpoint_ = std::move(endpoint);
    pod_labels_ = s.pod_labels;
    if (!endpoint_) {
      index_.clear();
      containers_.set(0);
      return;
    }
  }
  if (!worker_) {
    worker_ = std::make_unique<PeriodicWorker>("goscry-kube", std::chrono::seconds(0), [this] {
      return list_pods();
    });
    worker_->start();
  } else {
    worker_->wake();
  }
}

Clock::time_point KubePods::list_pods() {
  std::optional<KubeEndpoint> endpoint;
  std::vector<std::string> labels;
  std::chrono::milliseconds interval;
  {
    std::lock_guard lock(mu_);
    endpoint = endpoint_;
    labels = pod_labels_;
    interval = interval_;
  }
  if (!endpoint) return Clock::now() + interval;
  auto body = fetch(*endpoint);
  auto index = body ? parse_pod_list(*body, labels) : std::unexpected(body.error());
  if (!index) {
    lists_failed_.inc();
    log::warn("cannot list this node's pods; keeping the last good list",
              {{"error", index.error().message}});
    return Clock::now() + interval;
  }
  lists_ok_.inc();
  last_success_.set(unix_now());
  containers_.set(double(index->size()));
  log::debug("pods listed", {{"containers", std::to_string(index->size())}});
  std::lock_guard lock(mu_);
  if (endpoint_ && endpoint_->url == endpoint->url && pod_labels_ == labels)
    index_ = std::move(*index);
  return Clock::now() + interval;
}

std::optional<PodIdentity> KubePods::find(const std::string& container_id) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(container_id); it != index_.end()) return it->second;
  if (!endpoint_ || !worker_ || container_id.empty()) return std::nullopt;
  if (Clock::now() - last_relist_ask_ >= kMinRelist) {
    last_relist_ask_ = Clock::now();
    worker_->wake();
  }
  return std::nullopt;
}

}  // namespace goscry
