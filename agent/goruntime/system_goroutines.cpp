#include "agent/goruntime/system_goroutines.h"

namespace goscry {

bool is_system_start_function(std::string_view f) {
  if (f == "runtime.main" || f == "runtime.corostart" || f == "runtime.handleAsyncEvent")
    return false;
  return f.starts_with("runtime.");
}

}  // namespace goscry
