// Builds pprof profiles (exporters/profile.proto) that `go tool pprof`, Pyroscope and
// Parca read as if the Go program had written them itself.
//
// The builder owns the id spaces: mappings, functions and locations are deduplicated by
// content and get dense ids from 1; strings are interned with "" at index 0. Callers
// describe frames in plain structs and never see the protobuf types.
//
// Misuse by the caller (a value count that does not match the sample types, an id the
// builder never handed out) is a programming error and throws std::invalid_argument;
// strings from targets are taken as they are.
#pragma once

#include <compare>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace goscry::pprof {

struct ValueType {
  std::string type;  // "samples", "cpu", "goroutine"
  std::string unit;  // "count", "nanoseconds", "bytes"
};

struct Mapping {
  std::uint64_t memory_start = 0;
  std::uint64_t memory_limit = 0;
  std::uint64_t file_offset = 0;
  std::string filename;  // path of the binary, or "[vdso]"
  std::string build_id;  // as pprof shows it: the GNU build-id in hex, or Go's build ID
  bool has_functions = false;
  bool has_filenames = false;
  bool has_line_numbers = false;
  bool has_inline_frames = false;
};

struct Function {
  std::string name;         // "main.(*T).M"
  std::string system_name;  // as the symbol table spells it; usually == name for Go
  std::string filename;
  std::int64_t start_line = 0;
  auto operator<=>(const Function&) const = default;
};

struct Line {
  Function function;
  std::int64_t line = 0;
  std::int64_t column = 0;
};

struct Location {
  std::uint64_t mapping_id = 0;  // from add_mapping, or 0 if unknown
  std::uint64_t address = 0;
  // lines[0] is the innermost frame (the inlined callee), lines.back() the physical
  // function it was inlined into — the order of profile.proto and of Go's own profiles.
  std::vector<Line> lines;
  bool is_folded = false;
};

struct Label {
  std::string key;
  std::string str;       // string labels
  std::int64_t num = 0;  // numeric labels, with
  std::string num_unit;  // "bytes", "nanoseconds", a custom count unit, or ""
  bool is_numeric = false;

  static Label string(std::string key, std::string value) {
    return {std::move(key), std::move(value), 0, "", false};
  }
  static Label number(std::string key, std::int64_t value, std::string unit = "") {
    return {std::move(key), "", value, std::move(unit), true};
  }
};

struct ProfileData;  // the protobuf message and the dedup indexes, in pprof.cpp

class ProfileBuilder {
 public:
  explicit ProfileBuilder(std::vector<ValueType> sample_types);
  ~ProfileBuilder();
  ProfileBuilder(ProfileBuilder&&) noexcept;
  ProfileBuilder& operator=(ProfileBuilder&&) noexcept;

  void set_period(ValueType period_type, std::int64_t period);
  void set_time(std::int64_t time_nanos, std::int64_t duration_nanos);
  // Must name one of the sample types; pprof shows that one by default.
  void set_default_sample_type(std::string_view type);
  void add_comment(std::string_view comment);
  void set_drop_frames(std::string_view regexp);
  void set_keep_frames(std::string_view regexp);
  void set_doc_url(std::string_view url);

  // Each returns the id of an existing equal entry, or a fresh one.
  std::uint64_t add_mapping(const Mapping& m);
  std::uint64_t add_function(const Function& f);
  std::uint64_t add_location(const Location& loc);

  // `location_ids` leaf first; exactly one value per sample type.
  void add_sample(const std::vector<std::uint64_t>& location_ids,
                  const std::vector<std::int64_t>& values, const std::vector<Label>& labels = {});

  size_t sample_count() const;
  size_t location_count() const;
  size_t function_count() const;

  // The serialized Profile message, uncompressed.
  std::string serialize() const;
  // What a .pb.gz file holds and what /debug/pprof/* answers with.
  std::expected<std::string, std::string> serialize_gzip() const;

 private:
  std::int64_t intern(std::string_view s);

  std::unique_ptr<ProfileData> data_;
};

}  // namespace goscry::pprof
