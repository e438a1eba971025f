// Escaping for text placed in XML, SVG or HTML (element text and quoted attributes): the
// flame graph SVG and the agent's status page share it.
#pragma once

#include <string>
#include <string_view>

namespace goscry {

inline std::string markup_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace goscry
