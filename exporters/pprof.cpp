#include "exporters/pprof.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "exporters/gzip.h"
#include "exporters/profile.pb.h"

namespace goscry::pprof {

namespace pb = perftools::profiles;

struct ProfileData {
  pb::Profile proto;
  std::unordered_map<std::string, std::int64_t> strings;
  // Content keys -> ids. A key lists the fields that make two entries the same, strings
  // already interned to their indices.
  std::map<std::vector<std::uint64_t>, std::uint64_t> mappings;
  std::map<std::vector<std::int64_t>, std::uint64_t> functions;
  std::map<std::vector<std::uint64_t>, std::uint64_t> locations;
};

ProfileBuilder::ProfileBuilder(std::vector<ValueType> sample_types)
    : data_(std::make_unique<ProfileData>()) {
  intern("");  // string_table[0] must be ""
  for (const auto& t : sample_types) {
    pb::ValueType* vt = data_->proto.add_sample_type();
    vt->set_type(intern(t.type));
    vt->set_unit(intern(t.unit));
  }
}

ProfileBuilder::~ProfileBuilder() = default;
ProfileBuilder::ProfileBuilder(ProfileBuilder&&) noexcept = default;
ProfileBuilder& ProfileBuilder::operator=(ProfileBuilder&&) noexcept = default;

std::int64_t ProfileBuilder::intern(std::string_view s) {
  auto [it, fresh] =
      data_->strings.try_emplace(std::string(s), data_->proto.string_table_size());
  if (fresh) data_->proto.add_string_table(std::string(s));
  return it->second;
}

void ProfileBuilder::set_period(ValueType period_type, std::int64_t period) {
  pb::ValueType* vt = data_->proto.mutable_period_type();
  vt->set_type(intern(period_type.type));
  vt->set_unit(intern(period_type.unit));
  data_->proto.set_period(period);
}

void ProfileBuilder::set_time(std::int64_t time_nanos, std::int64_t duration_nanos) {
  data_->proto.set_time_nanos(time_nanos);
  data_->proto.set_duration_nanos(duration_nanos);
}

void ProfileBuilder::set_default_sample_type(std::string_view type) {
  for (const auto& vt : data_->proto.sample_type()) {
    if (data_->proto.string_table(static_cast<int>(vt.type())) == type) {
      data_->proto.set_default_sample_type(vt.type());
      return;
    }
  }
  throw std::invalid_argument("pprof: default sample type '" + std::string(type) +
                              "' is not one of the sample types");
}

void ProfileBuilder::add_comment(std::string_view comment) {
  data_->proto.add_comment(intern(comment));
}
void ProfileBuilder::set_drop_frames(std::string_view regexp) {
  data_->proto.set_drop_frames(intern(regexp));
}
void ProfileBuilder::set_keep_frames(std::string_view regexp) {
  data_->proto.set_keep_frames(intern(regexp));
}
void ProfileBuilder::set_doc_url(std::string_view url) { data_->proto.set_doc_url(intern(url)); }

std::uint64_t ProfileBuilder::add_mapping(const Mapping& m) {
  std::vector<std::uint64_t> key = {
      m.memory_start,
      m.memory_limit,
      m.file_offset,
      static_cast<std::uint64_t>(intern(m.filename)),
      static_cast<std::uint64_t>(intern(m.build_id)),
      (m.has_functions ? 1u : 0u) | (m.has_filenames ? 2u : 0u) | (m.has_line_numbers ? 4u : 0u) |
          (m.has_inline_frames ? 8u : 0u)};
  auto [it, fresh] = data_->mappings.try_emplace(key, data_->mappings.size() + 1);
  if (!fresh) return it->second;
  pb::Mapping* pm = data_->proto.add_mapping();
  pm->set_id(it->second);
  pm->set_memory_start(m.memory_start);
  pm->set_memory_limit(m.memory_limit);
  pm->set_file_offset(m.file_offset);
  pm->set_filename(static_cast<std::int64_t>(key[3]));
  pm->set_build_id(static_cast<std::int64_t>(key[4]));
  pm->set_has_functions(m.has_functions);
  pm->set_has_filenames(m.has_filenames);
  pm->set_has_line_numbers(m.has_line_numbers);
  pm->set_has_inline_frames(m.has_inline_frames);
  return it->second;
}

std::uint64_t ProfileBuilder::add_function(const Function& f) {
  std::vector<std::int64_t> key = {intern(f.name), intern(f.system_name), intern(f.filename),
                                   f.start_line};
  auto [it, fresh] = data_->functions.try_emplace(key, data_->functions.size() + 1);
  if (!fresh) return it->second;
  pb::Function* pf = data_->proto.add_function();
  pf->set_id(it->second);
  pf->set_name(key[0]);
  pf->set_system_name(key[1]);
  pf->set_filename(key[2]);
  pf->set_start_line(f.start_line);
  return it->second;
}

std::uint64_t ProfileBuilder::add_location(const Location& loc) {
  if (loc.mapping_id > data_->mappings.size())
    throw std::invalid_argument("pprof: location refers to mapping " +
                                std::to_string(loc.mapping_id) + ", which does not exist");
  std::vector<std::uint64_t> function_ids;
  function_ids.reserve(loc.lines.size());
  for (const auto& l : loc.lines) function_ids.push_back(add_function(l.function));

  std::vector<std::uint64_t> key = {loc.mapping_id, loc.address, loc.is_folded ? 1u : 0u};
  for (size_t i = 0; i < loc.lines.size(); ++i) {
    key.push_back(function_ids[i]);
    key.push_back(static_cast<std::uint64_t>(loc.lines[i].line));
    key.push_back(static_cast<std::uint64_t>(loc.lines[i].column));
  }
  auto [it, fresh] = data_->locations.try_emplace(std::move(key), data_->locations.size() + 1);
  if (!fresh) return it->second;
  pb::Location* pl = data_->proto.add_location();
  pl->set_id(it->second);
  pl->set_mapping_id(loc.mapping_id);
  pl->set_address(loc.address);
  pl->set_is_folded(loc.is_folded);
  for (size_t i = 0; i < loc.lines.size(); ++i) {
    pb::Line* line = pl->add_line();
    line->set_function_id(function_ids[i]);
    line->set_line(loc.lines[i].line);
    line->set_column(loc.lines[i].column);
  }
  return it->second;
}

void ProfileBuilder::add_sample(const std::vector<std::uint64_t>& location_ids,
                                const std::vector<std::int64_t>& values,
                                const std::vector<Label>& labels) {
  if (values.size() != static_cast<size_t>(data_->proto.sample_type_size()))
    throw std::invalid_argument("pprof: a sample has " + std::to_string(values.size()) +
                                " values for " + std::to_string(data_->proto.sample_type_size()) +
                                " sample types");
  for (std::uint64_t id : location_ids)
    if (id == 0 || id > data_->locations.size())
      throw std::invalid_argument("pprof: sample refers to location " + std::to_string(id) +
                                  ", which does not exist");
  pb::Sample* s = data_->proto.add_sample();
  s->mutable_location_id()->Add(location_ids.begin(), location_ids.end());
  s->mutable_value()->Add(values.begin(), values.end());
  for (const auto& l : labels) {
    pb::Label* pl = s->add_label();
    pl->set_key(intern(l.key));
    if (l.is_numeric) {
      pl->set_num(l.num);
      if (!l.num_unit.empty()) pl->set_num_unit(intern(l.num_unit));
    } else {
      pl->set_str(intern(l.str));
    }
  }
}

size_t ProfileBuilder::sample_count() const { return data_->proto.sample_size(); }
size_t ProfileBuilder::location_count() const { return data_->proto.location_size(); }
size_t ProfileBuilder::function_count() const { return data_->proto.function_size(); }

std::string ProfileBuilder::serialize() const { return data_->proto.SerializeAsString(); }

std::expected<std::string, std::string> ProfileBuilder::serialize_gzip() const {
  return gzip(serialize());
}

}  // namespace goscry::pprof
