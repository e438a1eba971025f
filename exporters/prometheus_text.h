// The pieces of the Prometheus text exposition format 0.0.4 that every line needs:
// escaping, number formatting, and the naming rules `promtool check metrics` lints.
// https://prometheus.io/docs/instrumenting/exposition_formats/ — kept free of any registry
// so that the escaping can be tested (and fuzzed) on its own.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace goscry::prometheus {

// The Content-Type a /metrics handler answers with.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Label values and HELP text come from targets (Go function names read out of untrusted
// binaries) and Prometheus rejects a scrape with invalid UTF-8. Every ill-formed sequence
// becomes U+FFFD, as Go's strings.ToValidUTF8 would do; valid text is returned unchanged.
std::string to_valid_utf8(std::string_view s);
bool is_valid_utf8(std::string_view s);

// Label value inside double quotes: \ -> \\, " -> \", newline -> \n. Nothing else needs
// escaping, so `main.(*T).M` and `F[...]` pass through as they are.
void append_escaped_label_value(std::string& out, std::string_view value);
// HELP text: \ -> \\, newline -> \n (a double quote stays as it is).
void append_escaped_help(std::string& out, std::string_view help);

// A sample value as Prometheus (Go's strconv.ParseFloat) reads it back exactly: "+Inf",
// "-Inf", "NaN", integral values (below 1e21) without exponent or fraction ("1024",
// "100000000000000000000"), everything else as Go's strconv.FormatFloat(v, 'g', -1, 64)
// writes it ("0.1", "0.0001", "1e-07", "1.5e+06") — shortest digits that round-trip.
void append_value(std::string& out, double v);
std::string format_value(double v);

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool is_valid_metric_name(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved for Prometheus itself).
bool is_valid_label_name(std::string_view name);

enum class MetricType { kCounter, kGauge, kHistogram };
std::string_view type_name(MetricType t);

// Every rule below is one `promtool check metrics` enforces (or the format requires);
// returns the broken ones, empty when the name is fine. Metric names are chosen by us, so
// the registry turns a non-empty answer into an exception at registration.
std::vector<std::string> naming_problems(std::string_view name, MetricType type,
                                         const std::vector<std::string>& label_names);

}  // namespace goscry::prometheus
