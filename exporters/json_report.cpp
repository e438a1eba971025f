#include "exporters/json_report.h"

namespace goscry::json_report {

using json = nlohmann::ordered_json;

json envelope(std::string_view kind, int version) {
  return json{{"report", std::string(kind)}, {"version", version}};
}

std::string to_line(const json& report) {
  return report.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string to_pretty(const json& report) {
  return report.dump(2, ' ', false, json::error_handler_t::replace);
}

void Writer::write(const json& report) {
  out_ << (style_ == Style::kLines ? to_line(report) : to_pretty(report)) << '\n';
  out_.flush();
}

}  // namespace goscry::json_report
