#include "agent/goruntime/code_location.h"

namespace goscry {

std::string CodeLocation::text() const {
  return function + " " + file + ":" + std::to_string(line);
}

std::string CodeLocation::short_text() const {
  if (file.empty()) return function;
  const auto slash = file.rfind('/');
  return function + " " + (slash == std::string::npos ? file : file.substr(slash + 1)) + ":" +
         std::to_string(line);
}

}  // namespace goscry
