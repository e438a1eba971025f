// `goscry info`: what goscry knows about a Go binary before probing it — Go version,
// module, stripped or not, pclntab format, DWARF, build-id, the runtime struct offsets it
// reads the target's memory by (and whether they came from DWARF or the built-in table), and
// every runtime probe point with its address or the reason it is missing. With --pid the addresses are the
// process's (file address + load bias), which is what a uprobe or a stack sample shows.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "agent/base/exit_codes.h"
#include "agent/cli/cli.h"
#include "agent/cli/verb_output.h"
#include "agent/goruntime/go_target.h"
#include "symbolizer/probe_points.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {
namespace {

struct InfoOptions {
  TargetOptions target;
  std::string format = "text";
};

// The struct offsets every reader of the target's memory uses (symbolizer/runtime_layout.h):
// per field the struct, the member path ("" = the struct's size) and the offset, null where
// the field does not exist in that release; or why there are none.
nlohmann::ordered_json layout_json(std::shared_ptr<const GoBinary> b) {
  const auto facts = go_binary_facts(std::move(b));
  const Result<RuntimeLayout>& l = facts->layout;
  if (!l) return {{"missing", l.error().message}};
  struct Path {
    const char* type;
    const char* member;
  };
  static constexpr Path kPaths[] = {
#define GOSCRY_FIELD_PATH(name, type, path) {type, path},
      GOSCRY_RUNTIME_LAYOUT_FIELDS(GOSCRY_FIELD_PATH)
#undef GOSCRY_FIELD_PATH
  };
  nlohmann::ordered_json fields = nlohmann::ordered_json::array();
  std::size_t i = 0;
  for (const auto& [name, offset] : layout_fields(*l)) {
    const Path& p = kPaths[i++];
    nlohmann::ordered_json f = {{"name", name}, {"struct", p.type}, {"member", p.member}};
    f["offset"] = offset >= 0 ? nlohmann::ordered_json(offset) : nlohmann::ordered_json(nullptr);
    fields.push_back(f);
  }
  return {{"source", l->source}, {"fields", fields}};
}

nlohmann::ordered_json info_json(const GoTarget& t) {
  const GoBinary& b = *t.binary;
  nlohmann::ordered_json j;
  j["path"] = b.elf().path();
  if (t.pid) {
    j["pid"] = t.pid;
    j["exe"] = t.exe;
    j["load_bias"] = to_hex(t.bias);
  }
  // "runtime": the process's addresses (file address + load bias); "file": ELF vaddrs.
  j["addresses"] = t.pid ? "runtime" : "file";
  j["go_version"] = b.go_version();
  if (const auto& bi = b.build_info()) {
    j["package"] = bi->path;
    j["module"] = {{"path", bi->main_path}, {"version", bi->main_version}};
    nlohmann::ordered_json settings = nlohmann::ordered_json::object();
    for (const auto& [k, v] : bi->settings) settings[k] = v;
    j["build_settings"] = settings;
  }
  j["stripped"] = b.stripped();
  j["dwarf"] = b.has_dwarf();
  j["pclntab"] = {{"format", b.pclntab_format()},
                  {"address", to_hex(b.pclntab_vaddr())},
                  {"functions", b.pclntab().num_functions()},
                  {"text_start", to_hex(b.text_start())}};
  j["build_id"] = b.elf().build_id().value_or("");
  j["go_build_id"] = b.elf().go_build_id().value_or("");
  j["runtime_layout"] = layout_json(t.binary);
  nlohmann::ordered_json probes = nlohmann::ordered_json::array();
  for (const auto& p : probe_points(b)) {
    nlohmann::ordered_json pj = {{"function", p.function}, {"purpose", p.purpose}};
    if (p.bounds) {
      pj["address"] = to_hex(p.bounds->entry + t.bias);
      pj["end"] = to_hex(p.bounds->end + t.bias);
      if (t.pid) pj["file_address"] = to_hex(p.bounds->entry);
    } else {
      pj["missing"] = p.missing;
    }
    probes.push_back(pj);
  }
  j["probe_points"] = probes;
  return j;
}

// Two fields a line: "runtime.g.goid 152", sizes as "sizeof(runtime.g) 392", "-" where the
// field does not exist in that release.
void print_layout(const nlohmann::ordered_json& layout) {
  if (layout.contains("missing")) {
    std::printf("runtime offsets: none: %s\n", layout["missing"].get<std::string>().c_str());
    return;
  }
  std::printf("runtime offsets (bytes; from %s):\n", layout["source"].get<std::string>().c_str());
  int column = 0;
  for (const auto& f : layout["fields"]) {
    const std::string type = f["struct"], member = f["member"];
    const std::string what = member.empty() ? "sizeof(" + type + ")" : type + "." + member;
    const std::string value = f["offset"].is_null() ? "-" : std::to_string(f["offset"].get<int>());
    std::printf("  %-36s %5s", what.c_str(), value.c_str());
    if (++column == 2) {
      std::printf("\n");
      column = 0;
    }
  }
  if (column) std::printf("\n");
}

void print_text(const nlohmann::ordered_json& j) {
  auto line = [](const char* key, const std::string& v) {
    std::printf("%-14s %s\n", key, v.c_str());
  };
  line("path:", j["path"]);
  if (j.contains("pid")) {
    line("pid:", std::to_string(j["pid"].get<int>()));
    line("exe:", j["exe"]);
    line("load bias:", j["load_bias"]);
  }
  line("go version:", j["go_version"].get<std::string>().empty() ? "unknown (no .go.buildinfo)"
                                                                 : j["go_version"].get<std::string>());
  if (j.contains("module")) {
    line("package:", j["package"]);
    std::string m = j["module"]["path"], v = j["module"]["version"];
    // The toolchain's own commands (cmd/compile) belong to no module.
    line("module:", m.empty() ? "none" : m + (v.empty() ? "" : " " + v));
  }
  line("stripped:", j["stripped"].get<bool>() ? "yes" : "no");
  line("dwarf:", j["dwarf"].get<bool>() ? "yes" : "no");
  const auto& pt = j["pclntab"];
  line("pclntab:", "format " + pt["format"].get<std::string>() + " at " +
                       pt["address"].get<std::string>() + ", " +
                       std::to_string(pt["functions"].get<std::size_t>()) +
                       " functions, text at " + pt["text_start"].get<std::string>());
  std::string id = j["build_id"];
  line("build-id:", id.empty() ? "none" : id);
  line("go build-id:", j["go_build_id"].get<std::string>().empty() ? "none" : j["go_build_id"].get<std::string>());
  print_layout(j["runtime_layout"]);
  if (j["addresses"] == "runtime")
    std::printf("probe points (runtime addresses of process %d: file address + load bias %s):\n",
                j["pid"].get<int>(), j["load_bias"].get<std::string>().c_str());
  else
    std::printf("probe points (file addresses):\n");
  for (const auto& p : j["probe_points"]) {
    std::string where = p.contains("address") ? p["address"].get<std::string>()
                                              : "missing: " + p["missing"].get<std::string>();
    std::printf("  %-32s %s\n", p["function"].get<std::string>().c_str(), where.c_str());
  }
}

void print_json(const nlohmann::ordered_json& j) { std::printf("%s\n", j.dump(2).c_str()); }

const Formats<void (*)(const nlohmann::ordered_json&)> kFormats = {{"text", print_text},
                                                                   {"json", print_json}};

int run_info(const InfoOptions& o) {
  auto t = open_go_target(o.target);
  if (!t) return fail_verb("info", t.error());
  kFormats[o.format](info_json(*t));
  return kExitOk;
}

}  // namespace

void add_info_verb(CLI::App& app, VerbRun& run) {
  auto opts = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand("info", "Go version, module, tables and probe points of a Go binary");
  add_target_options(*cmd, opts->target, true);
  add_format_option(*cmd, opts->format, kFormats);
  cmd->callback([opts, &run] { run = [opts] { return run_info(*opts); }; });
}

}  // namespace goscry
