#include "agent/daemon/kube_pod_list.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

namespace goscry {
namespace {

using json = nlohmann::json;

constexpr std::size_t kContainerIdLength = 64;
// No PodList nests deeper than ~12 (items, pod, status, containerStatuses, state, ...).
constexpr int kMaxDepth = 64;
// Values kept by the filtered parse: ~5 per container plus the asked labels per pod; a
// node's 110 pods need a few thousand. Past this the answer is not a node's pod list.
constexpr std::size_t kMaxKeptValues = 200000;

struct TooManyValues {};

// Deepest nesting of [ and { outside strings: checked before parsing so that neither the
// parser's stack nor the kept values' destruction can be driven deep by hostile input.
int nesting_depth(std::string_view s) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Which object keys the filtered parse keeps, by nlohmann's callback depth (the number of
// open containers): 1 the list's, 3 a pod's, 4 its metadata's and status's, 5 the labels'
// (all of them; filtered later), 6 a container status's.
bool keep_key(int depth, const std::string& key) {
  static const std::set<std::string> kPod = {"metadata", "status"};
  static const std::set<std::string> kPodParts = {
      "name", "namespace", "labels", "containerStatuses", "initContainerStatuses",
      "ephemeralContainerStatuses"};
  switch (depth) {
    case 1: return key == "items";
    case 3: return kPod.contains(key);
    case 4: return kPodParts.contains(key);
    case 5: return true;
    case 6: return key == "name" || key == "containerID";
    default: return false;
  }
}

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "containerd://<id>", "docker://<id>", "cri-o://<id>" -> the id, if 64 lower hex.
std::string container_id_of(const std::string& runtime_id) {
  auto sep = runtime_id.find("://");
  std::string id = sep == std::string::npos ? runtime_id : runtime_id.substr(sep + 3);
  bool hex = std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  return id.size() == kContainerIdLength && hex ? id : std::string();
}

void index_pod(const json& pod, const std::vector<std::string>& wanted, PodIndex& out) {
  if (!pod.is_object()) return;
  const json& meta = pod.value("metadata", json::object());
  const json& status = pod.value("status", json::object());
  if (!meta.is_object() || !status.is_object()) return;
  PodIdentity who{string_at(meta, "name"), string_at(meta, "namespace"), "", {}};
  if (auto labels = meta.find("labels"); labels != meta.end() && labels->is_object())
    for (const auto& name : wanted)
      if (auto v = labels->find(name); v != labels->end() && v->is_string())
        who.labels[name] = v->get<std::string>();
  for (const char* list : {"containerStatuses", "initContainerStatuses",
                           "ephemeralContainerStatuses"}) {
    auto statuses = status.find(list);
    if (statuses == status.end() || !statuses->is_array()) continue;
    for (const auto& c : *statuses) {
      if (!c.is_object()) continue;
      std::string id = container_id_of(string_at(c, "containerID"));
      if (id.empty()) continue;  // not started yet
      who.container = string_at(c, "name");
      out[id] = who;
    }
  }
}

}  // namespace

std::string pod_label_metric_name(const std::string& pod_label) {
  std::string out = "label_";
  for (char c : pod_label) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

Result<PodIndex> parse_pod_list(std::string_view text, const std::vector<std::string>& labels) {
  if (nesting_depth(text) > kMaxDepth)
    return fail(ErrorKind::BadInput,
                "pod list: nested deeper than " + std::to_string(kMaxDepth) + " levels");
  std::size_t kept = 0;
  auto filter = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && !keep_key(depth, parsed.get_ref<std::string&>()))
      return false;
    if (++kept > kMaxKeptValues) throw TooManyValues{};
    return true;
  };
  json list;
  try {
    list = json::parse(text.begin(), text.end(), filter, /*allow_exceptions=*/false);
  } catch (const TooManyValues&) {
    return fail(ErrorKind::BadInput, "pod list: over " + std::to_string(kMaxKeptValues) +
                                         " values in the fields goscry reads");
  }
  if (list.is_discarded() || !list.is_object())
    return fail(ErrorKind::BadInput, "pod list: not a JSON object");
  auto items = list.find("items");
  if (items == list.end() || !items->is_array())
    return fail(ErrorKind::BadInput, "pod list: no \"items\" list (not a v1 PodList)");
  PodIndex out;
  for (const auto& pod : *items) index_pod(pod, labels, out);
  return out;
}

}  // namespace goscry
