// Go's .gopclntab: the table the Go runtime itself uses for tracebacks. It survives
// `-ldflags="-s -w"`, so it is how goscry finds functions and turns PCs into
// function/file/line — inlined frames included — in any Go binary, stripped or not.
//
// Formats: 1.2 (magic 0xFFFFFFFB), 1.16 (0xFFFFFFFA), 1.18 (0xFFFFFFF0), 1.20+ (0xFFFFFFF1).
// Layouts follow src/runtime/symtab.go and src/internal/abi/symtab.go of each release.
//
// The table is untrusted: every read goes through ByteReader, counts are capped by the
// table size and every pcvalue loop is bounded by the bytes it consumes. Names and files
// stay string_views into the table bytes. Opening builds two indexes (name -> function,
// 256-byte text bucket -> first function); line tables are decoded per lookup, like the
// runtime does, so lookups need no lock and no memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "symbolizer/byte_reader.h"
#include "symbolizer/error.h"

namespace goscry {

enum class PclntabVersion { Go12, Go116, Go118, Go120 };

// "1.2", "1.16", "1.18", "1.20" (the first release of that layout).
std::string_view pclntab_version_name(PclntabVersion v);

struct PclntabHeader {
  PclntabVersion version = PclntabVersion::Go120;
  std::uint32_t magic = 0;
  unsigned quantum = 1;   // minLC: pc deltas are multiples of it
  unsigned ptr_size = 8;
  std::uint64_t nfunc = 0;
  std::uint64_t nfiles = 0;
  std::uint64_t text_start = 0;  // 1.18-1.25 only; 0 from 1.26 (use moduledata.text)
  std::uint64_t funcname_off = 0, cu_off = 0, filetab_off = 0, pctab_off = 0, pcln_off = 0;
};

// Reads and checks the header: known magic, sane quantum and pointer size, table offsets
// inside the table and a function table that fits. Used to find a table by its magic too.
Result<PclntabHeader> read_pclntab_header(ByteReader table);

// What the table cannot tell by itself, supplied by the binary around it.
struct PclntabContext {
  // Runtime text start (moduledata.text) for 1.18+; 0 = take the header's textStart.
  std::uint64_t text_start = 0;
  // moduledata.gofunc (go:func.*): base of funcdata offsets in 1.18+; 0 = unknown, then
  // no inlined frames are expanded.
  std::uint64_t gofunc = 0;
  // Reads `len` bytes of the binary's image at a virtual address (inline trees live in
  // rodata, outside the table). Empty = inline trees unavailable.
  std::function<Result<ByteReader>(std::uint64_t vaddr, std::uint64_t len)> read_image;
};

struct PclntabFrame {
  std::string_view function;
  std::string_view file;  // "?" when unknown
  std::int32_t line = 0;
  bool inlined = false;
  // The runtime's funcID of the frame's function (_func.funcID, or the inline tree's
  // record's for an inlined call): the traceback elides frames of the wrapper funcID.
  std::uint8_t func_id = 0;
  // The pc offset from the physical function's entry where this frame's file:line was read:
  // the pc's own, or for a caller of inlined code the call site (inline tree parentPc).
  std::uint32_t pc_offset = 0;
};

// What the runtime's printArgs reads for a function at a pc (runtime/traceback.go;
// docs/go-runtime.md "Arguments in tracebacks"): the argument program (FUNCDATA_ArgInfo,
// Go 1.17+: offset and size of each word to print from the frame's argument pointer,
// aggregate braces, "..." and "_" marks, up to its end byte 0xff) and the liveness of the
// register arguments' spill slots at that pc (FUNCDATA_ArgLiveInfo and PCDATA_ArgLiveIndex,
// Go 1.18+). An empty program: the function has none, and Go prints "()".
struct PclntabArgInfo {
  std::vector<std::uint8_t> program;
  std::uint8_t live_start = 0xff;  // slots below this offset are always live
  std::vector<std::uint8_t> live;  // the liveness bitmap at pc; empty = every slot live
};

// Frames of many PCs at once (Pclntab::frames_batch): the frames of pcs[i] are
// frames[first[i] .. first[i] + count[i]), innermost first; count 0 = not Go code.
struct PclntabBatch {
  std::vector<PclntabFrame> frames;
  std::vector<std::uint32_t> first;
  std::vector<std::uint32_t> count;
  std::span<const PclntabFrame> at(std::size_t i) const {
    return std::span<const PclntabFrame>(frames).subspan(first[i], count[i]);
  }
};

class Pclntab {
 public:
  static Result<std::unique_ptr<Pclntab>> parse(ByteReader table, PclntabContext ctx);

  const PclntabHeader& header() const { return header_; }
  std::uint64_t text_start() const { return text_start_; }
  std::size_t num_functions() const { return entries_.size() ? entries_.size() - 1 : 0; }
  std::uint64_t entry(std::size_t i) const { return entries_[i]; }
  // End of function i: the next function's entry (or the table's end address).
  std::uint64_t end(std::size_t i) const { return entries_[i + 1]; }
  std::string_view name(std::size_t i) const;
  // _func.funcID of function i (the runtime's special-function tag; 0 = normal, and 0 for
  // tables older than Go 1.12, which had none).
  std::uint8_t func_id(std::size_t i) const;
  // What the runtime's printArgs reads to print function i's arguments in a traceback
  // taken at pc (PclntabArgInfo).
  PclntabArgInfo arg_info(std::size_t i, std::uint64_t pc) const;

  // Index of the function containing pc, if pc is inside the table's range.
  std::optional<std::size_t> function_index(std::uint64_t pc) const;
  std::optional<std::size_t> find(std::string_view name) const;
  // True when `name` appears in the function-name table (a function only ever inlined
  // still has its name there, for the inline tree).
  bool mentions_name(std::string_view name) const;

  // Every frame at pc, innermost first: inlined calls, then the physical function. The
  // exact PC is symbolized (pass a return address minus 1 for a caller's line). Empty when
  // pc is not in any function. Thread-safe (reads only).
  std::vector<PclntabFrame> frames(std::uint64_t pc) const;
  // Appends to `out` (no allocation when out has capacity); returns the count.
  std::size_t frames(std::uint64_t pc, std::vector<PclntabFrame>& out) const;
  // The frames of every pc (any order, duplicates allowed), the same as frames(pc) each.
  // Sorts the PCs and decodes each function's pc tables once for all of its PCs (and the
  // call sites of their inlined frames), instead of decoding them from their start for
  // every PC and every inline level: for many addresses (a profile, a file of addresses)
  // this is several times faster. `out` is overwritten.
  void frames_batch(std::span<const std::uint64_t> pcs, PclntabBatch& out) const;
  // The stack pointer's distance from the function's entry value at pc (the pcsp table:
  // 0 at the entry, 0 throughout a frameless function). An unwinder that starts at pc
  // finds the return address at [SP + sp_delta]. Empty when pc is not in a function or
  // the table is unreadable.
  std::optional<std::int32_t> sp_delta(std::uint64_t pc) const;

  Pclntab(const Pclntab&) = delete;
  Pclntab& operator=(const Pclntab&) = delete;
  ~Pclntab();

 private:
  struct FuncRecord;
  Pclntab() = default;
  Result<void> load_functab();
  void index_names();
  void index_buckets();
  Result<FuncRecord> func_record(std::size_t i) const;
  struct InlineTree;
  InlineTree inline_tree(const FuncRecord& rec) const;
  std::uint64_t funcdata_vaddr(const FuncRecord& rec, std::uint32_t index) const;
  std::vector<std::uint8_t> image_bytes(std::uint64_t vaddr, std::size_t max) const;
  // A function's file, line and inline-index tables decoded once (frames_batch).
  struct DecodedTables;
  void decode_tables(const FuncRecord& rec, const InlineTree& inl, std::uint64_t size,
                     DecodedTables& out) const;
  // Appends the frames at pc offset `off` of function idx, reading its tables from
  // `decoded`, or, when null, decoding them from their start at each level.
  void append_frames(std::size_t idx, const FuncRecord& rec, const InlineTree& inl,
                     std::uint32_t off, const DecodedTables* decoded,
                     std::vector<PclntabFrame>& out) const;
  std::string_view file_name(const FuncRecord& f, std::int32_t fileno) const;
  std::string_view cstring_at(const ByteReader& r, std::uint64_t off) const;

  PclntabHeader header_;
  PclntabContext ctx_;
  std::uint64_t text_start_ = 0;
  ByteReader table_, funcnames_, cutab_, filetab_, pctab_, pcln_;
  std::uint64_t nfiletab_ = 0;  // 1.2: entries of the file table
  std::vector<std::uint64_t> entries_;  // nfunc + 1 entry addresses, sorted
  // find()'s index: open addressing, a power of two of slots each holding the top 32 bits
  // of a name's hash and its function index + 1 (0: empty). One flat array instead of a
  // node per name: std::unordered_map spent ~0.5 s in allocations and cache misses on a
  // binary of 545,000 functions.
  std::vector<std::uint64_t> name_slots_;
  std::uint64_t name_field_ = 0;  // offset of nameOff in a function record
  unsigned bucket_shift_ = 8;
  std::vector<std::uint32_t> buckets_;  // first function of each 2^bucket_shift_ bytes of text
};

}  // namespace goscry
