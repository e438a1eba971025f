// The Kubernetes pod list's parser on arbitrary bytes: the answer of an API server or a
// kubelet (or whatever answers at kubernetes_pods_url) is untrusted input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/daemon/kube_pod_list.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto index = goscry::parse_pod_list(text, {"app", "app.kubernetes.io/name"});
  if (index)
    for (const auto& [id, pod] : *index)
      if (id.size() != 64 || pod.labels.size() > 2) __builtin_trap();  // only whole ids, asked labels
  return 0;
}
