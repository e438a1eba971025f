// One typed value of the YAML config, or the sentence saying which key is wrong.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "symbolizer/error.h"

namespace goscry {

template <typename T>
Result<T> yaml_value(const YAML::Node& n, const std::string& key) {
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    return fail(ErrorKind::BadInput, key + ": not a valid value");
  }
}

}  // namespace goscry
