#pragma once

// Reading PyTorch checkpoints (`pytorch_model.bin`) without Python, and without running anything
// the file asks for.
//
// torch.save (PyTorch >= 1.6) writes a zip archive of uncompressed ("stored") entries:
//   <archive>/data.pkl     a pickle of the state dict, tensors referring to storages by key
//   <archive>/data/<key>   the raw little-endian bytes of each storage
//   <archive>/version      the format version ("3")
//   <archive>/byteorder    "little" or "big" (PyTorch >= 2.1)
// The zip reader here is our own: it accepts only stored entries, understands zip64, checks every
// offset and size against the file and the central directory against each local header.
//
// data.pkl is read by a restricted unpickler: a stack machine that knows the opcodes torch's
// pickler emits for a state dict (protocol 2, plus the protocol 3-5 spellings of the same values)
// and the handful of globals that rebuild tensors. A global is only ever a name compared against
// that list -- nothing is imported, called or executed -- and anything else (another global, an
// unknown opcode, a nesting or object-count bomb, a structure that is not a flat dict of tensors)
// is a FormatError naming the culprit. Storages are memory-mapped; a contiguous F32 tensor aliases
// the mapping, every other tensor (views with offsets and strides, F16/BF16/integer data) is
// gathered and converted.
//
// The legacy pre-1.6 format (a raw pickle stream, or a tar file) is detected and rejected with a
// note on how to re-save it.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ved/detail/half.hpp"
#include "ved/error.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/limits.hpp"
#include "ved/tensor.hpp"

namespace ved {

namespace detail {

inline uint16_t load_le16(const unsigned char* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
inline uint32_t load_le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
inline uint64_t load_le64(const unsigned char* p) {
  return static_cast<uint64_t>(load_le32(p)) | static_cast<uint64_t>(load_le32(p + 4)) << 32;
}

// Printable form of untrusted bytes for error messages: at most `max` characters, with anything
// outside printable ASCII escaped so a hostile name cannot garble the message.
inline std::string printable(std::string_view s, size_t max = 120) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

// ---- zip ----------------------------------------------------------------------------------------

struct ZipEntry {
  std::string name;
  uint64_t header_offset = 0;  // local file header
  uint64_t data_offset = 0;    // first byte of the (stored) data
  uint64_t size = 0;
  uint32_t crc32 = 0;
};

// The entries of a zip archive of stored entries, validated against the file. CRCs are not
// checked: torch.load does not check them either, and torch.save can be told not to write them.
class ZipArchive {
 public:
  explicit ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) { parse(); }

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &entries_[it->second];
  }
  const unsigned char* data(const ZipEntry& e) const { return file_->data() + e.data_offset; }
  std::string_view text(const ZipEntry& e) const {
    return {reinterpret_cast<const char*>(data(e)), static_cast<size_t>(e.size)};
  }

 private:
  static constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50,
                            kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50,
                            kDescriptorSig = 0x08074b50;
  static constexpr uint16_t kFlagEncrypted = 0x0001, kFlagDescriptor = 0x0008,
                            kFlagStrongEncryption = 0x0040, kFlagMaskedHeader = 0x2000;

  [[noreturn]] void fail(const std::string& msg) const {
    throw FormatError(file_->path() + ": zip archive: " + msg);
  }

  // Bounds check with overflow safety: [offset, offset + len) must lie inside [0, limit).
  bool inside(uint64_t offset, uint64_t len, uint64_t limit) const {
    return offset <= limit && len <= limit - offset;
  }

  // The zip64 "extended information" extra field replaces, in this order, each of the given
  // 32-bit fields that holds its all-ones sentinel.
  void apply_zip64_extra(const unsigned char* extra, size_t extra_len, const std::string& entry,
                         const char* where, std::vector<std::pair<uint64_t*, bool>> fields) const {
    size_t p = 0;
    bool found = false;
    while (p < extra_len) {
      if (extra_len - p < 4)
        fail("entry '" + printable(entry) + "': " + where + " extra field is truncated");
      const uint16_t id = load_le16(extra + p), len = load_le16(extra + p + 2);
      if (len > extra_len - p - 4)
        fail("entry '" + printable(entry) + "': " + where + " extra field " + std::to_string(id) +
             " runs past the end of the extra data");
      if (id == 0x0001) {
        if (found) fail("entry '" + printable(entry) + "': two zip64 extra fields in the " + where);
        found = true;
        size_t q = 0;
        for (auto& [value, sentinel] : fields) {
          if (!sentinel) continue;
          if (len - q < 8)
            fail("entry '" + printable(entry) + "': " + where +
                 " zip64 extra field is too short for the sizes it must hold");
          *value = load_le64(extra + p + 4 + q);
          q += 8;
        }
      }
      p += 4 + len;
    }
    for (auto& [value, sentinel] : fields)
      if (sentinel && !found)
        fail("entry '" + printable(entry) + "': " + where +
             " has a zip64 sentinel size or offset but no zip64 extra field");
  }

  void parse() {
    const unsigned char* d = file_->data();
    const uint64_t size = file_->size();
    if (size < 22) fail("file of " + std::to_string(size) + " bytes is too short to be a zip");

    // The end-of-central-directory record: the last one whose comment reaches the end exactly.
    uint64_t eocd = UINT64_MAX;
    const uint64_t lowest = size - 22 > 65535 ? size - 22 - 65535 : 0;
    for (uint64_t p = size - 22 + 1; p-- > lowest;) {
      if (load_le32(d + p) == kEndSig && p + 22 + load_le16(d + p + 20) == size) {
        eocd = p;
        break;
      }
    }
    if (eocd == UINT64_MAX)
      fail("no end-of-central-directory record (the file is truncated or not a zip archive)");
    const unsigned char* e = d + eocd;
    uint64_t disk = load_le16(e + 4), cd_disk = load_le16(e + 6), disk_entries = load_le16(e + 8),
             total_entries = load_le16(e + 10), cd_size = load_le32(e + 12),
             cd_offset = load_le32(e + 16);
    uint64_t records_start = eocd;  // the central directory must end before this

    if (eocd >= 20 && load_le32(d + eocd - 20) == kLocator64Sig) {
      const unsigned char* loc = d + eocd - 20;
      const uint64_t end64 = load_le64(loc + 8);
      if (load_le32(loc + 4) != 0 || load_le32(loc + 16) != 1)
        fail("multi-disk archives are not supported (zip64 locator)");
      if (!inside(end64, 56, eocd - 20) || load_le32(d + end64) != kEnd64Sig)
        fail("zip64 end-of-central-directory offset " + std::to_string(end64) +
             " does not point at a zip64 end record");
      const unsigned char* z = d + end64;
      const uint64_t rec_size = load_le64(z + 4);
      if (rec_size < 44 || !inside(end64 + 12, rec_size, eocd - 20))
        fail("zip64 end-of-central-directory record has an invalid size " +
             std::to_string(rec_size));
      const uint64_t z_disk = load_le32(z + 16), z_cd_disk = load_le32(z + 20),
                     z_disk_entries = load_le64(z + 24), z_total = load_le64(z + 32),
                     z_cd_size = load_le64(z + 40), z_cd_offset = load_le64(z + 48);
      // Where the classic record holds a real value (not its sentinel), both must agree.
      auto agree = [&](uint64_t classic, uint64_t sentinel, uint64_t wide, const char* what) {
        if (classic != sentinel && classic != wide)
          fail(std::string("end-of-central-directory records disagree on the ") + what + " (" +
               std::to_string(classic) + " vs zip64 " + std::to_string(wide) + ")");
      };
      agree(disk, 0xffff, z_disk, "disk number");
      agree(cd_disk, 0xffff, z_cd_disk, "central directory disk");
      agree(disk_entries, 0xffff, z_disk_entries, "entry count");
      agree(total_entries, 0xffff, z_total, "entry count");
      agree(cd_size, 0xffffffff, z_cd_size, "central directory size");
      agree(cd_offset, 0xffffffff, z_cd_offset, "central directory offset");
      disk = z_disk;
      cd_disk = z_cd_disk;
      disk_entries = z_disk_entries;
      total_entries = z_total;
      cd_size = z_cd_size;
      cd_offset = z_cd_offset;
      records_start = end64;
    }
    if (disk != 0 || cd_disk != 0 || disk_entries != total_entries)
      fail("multi-disk archives are not supported");
    if (!inside(cd_offset, cd_size, records_start))
      fail("central directory [" + std::to_string(cd_offset) + ", +" + std::to_string(cd_size) +
           ") lies outside the file before its end record at " + std::to_string(records_start));
    if (total_entries > cd_size / 46)
      fail(std::to_string(total_entries) + " entries cannot fit in a central directory of " +
           std::to_string(cd_size) + " bytes");

    entries_.reserve(static_cast<size_t>(total_entries));
    std::vector<std::pair<uint64_t, uint64_t>> spans;  // [header, end of data/descriptor)
    uint64_t p = cd_offset;
    const uint64_t cd_end = cd_offset + cd_size;
    for (uint64_t i = 0; i < total_entries; ++i) {
      if (!inside(p, 46, cd_end) || load_le32(d + p) != kCentralSig)
        fail("central directory entry " + std::to_string(i) + " at offset " + std::to_string(p) +
             " is truncated or has a bad signature");
      const unsigned char* c = d + p;
      const uint16_t flags = load_le16(c + 8), method = load_le16(c + 10);
      const uint32_t crc = load_le32(c + 16);
      uint64_t csize = load_le32(c + 20), usize = load_le32(c + 24);
      const uint16_t name_len = load_le16(c + 28), extra_len = load_le16(c + 30),
                     comment_len = load_le16(c + 32);
      uint64_t disk_start = load_le16(c + 34), header = load_le32(c + 42);
      if (!inside(p + 46, uint64_t(name_len) + extra_len + comment_len, cd_end))
        fail("central directory entry " + std::to_string(i) + " runs past the directory's end");
      ZipEntry entry;
      entry.name.assign(reinterpret_cast<const char*>(c + 46), name_len);
      const std::string& name = entry.name;
      if (name.empty()) fail("central directory entry " + std::to_string(i) + " has no name");
      apply_zip64_extra(c + 46 + name_len, extra_len, name, "central directory",
                        {{&usize, usize == 0xffffffff},
                         {&csize, csize == 0xffffffff},
                         {&header, header == 0xffffffff},
                         {&disk_start, disk_start == 0xffff}});
      if (flags & (kFlagEncrypted | kFlagStrongEncryption | kFlagMaskedHeader))
        fail("entry '" + printable(name) + "' is encrypted");
      if (method != 0) {
        const char* kind = method == 8    ? "deflate"
                           : method == 12 ? "bzip2"
                           : method == 14 ? "lzma"
                           : method == 93 ? "zstd"
                           : method == 95 ? "xz"
                                          : "unknown";
        fail("entry '" + printable(name) + "' is compressed (method " + std::to_string(method) +
             ", " + kind +
             "); only stored entries are read, as torch.save writes them. Re-save the checkpoint "
             "with torch.save instead of re-zipping it");
      }
      if (csize != usize)
        fail("entry '" + printable(name) + "' is stored but its compressed size " +
             std::to_string(csize) + " differs from its size " + std::to_string(usize));
      if (disk_start != 0) fail("entry '" + printable(name) + "' starts on another disk");

      // The local header must agree with the central directory.
      if (!inside(header, 30, cd_offset) || load_le32(d + header) != kLocalSig)
        fail("entry '" + printable(name) + "': local header offset " + std::to_string(header) +
             " does not point at a local file header before the central directory");
      const unsigned char* l = d + header;
      const uint16_t l_flags = load_le16(l + 6), l_method = load_le16(l + 8);
      const uint32_t l_crc = load_le32(l + 14);
      uint64_t l_csize = load_le32(l + 18), l_usize = load_le32(l + 22);
      const uint16_t l_name_len = load_le16(l + 26), l_extra_len = load_le16(l + 28);
      if (!inside(header + 30, uint64_t(l_name_len) + l_extra_len, cd_offset))
        fail("entry '" + printable(name) + "': local header runs into the central directory");
      if (std::string_view(reinterpret_cast<const char*>(l + 30), l_name_len) != name)
        fail("entry '" + printable(name) + "': local header names it '" +
             printable(std::string_view(reinterpret_cast<const char*>(l + 30), l_name_len)) + "'");
      if (l_method != method || (l_flags & kFlagDescriptor) != (flags & kFlagDescriptor) ||
          (l_flags & kFlagEncrypted) != (flags & kFlagEncrypted))
        fail("entry '" + printable(name) +
             "': local header and central directory disagree on its method or flags");
      apply_zip64_extra(l + 30 + l_name_len, l_extra_len, name, "local header",
                        {{&l_usize, l_usize == 0xffffffff}, {&l_csize, l_csize == 0xffffffff}});
      // With a data descriptor the local fields may be zero; whatever is there must be right.
      const bool descriptor = (flags & kFlagDescriptor) != 0;
      auto check_local = [&](uint64_t local, uint64_t central, const char* what) {
        if (local != central && !(descriptor && local == 0))
          fail("entry '" + printable(name) + "': local header gives " + what + " " +
               std::to_string(local) + " but the central directory " + std::to_string(central));
      };
      check_local(l_crc, crc, "CRC-32");
      check_local(l_csize, csize, "compressed size");
      check_local(l_usize, usize, "size");

      entry.header_offset = header;
      entry.data_offset = header + 30 + l_name_len + l_extra_len;
      entry.size = usize;
      entry.crc32 = crc;
      if (!inside(entry.data_offset, entry.size, cd_offset))
        fail("entry '" + printable(name) + "': its " + std::to_string(entry.size) +
             " bytes at offset " + std::to_string(entry.data_offset) +
             " run past the start of the central directory (" + std::to_string(cd_offset) + ")");
      uint64_t end = entry.data_offset + entry.size;
      if (descriptor) end = check_descriptor(entry, end, cd_offset);
      spans.emplace_back(header, end);
      if (!by_name_.emplace(name, entries_.size()).second)
        fail("entry '" + printable(name) + "' appears twice");
      entries_.push_back(std::move(entry));
      p += 46 + uint64_t(name_len) + extra_len + comment_len;
    }
    if (p != cd_end)
      fail("central directory holds " + std::to_string(cd_end - p) +
           " bytes beyond its declared entries");
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i)
      if (spans[i].first < spans[i - 1].second)
        fail("entries overlap (local headers at " + std::to_string(spans[i - 1].first) + " and " +
             std::to_string(spans[i].first) + ")");
  }

  // The data descriptor after an entry's data (signature optional; sizes 4 or, for zip64, 8
  // bytes) must repeat the central directory's CRC and sizes. Returns the descriptor's end.
  uint64_t check_descriptor(const ZipEntry& entry, uint64_t at, uint64_t limit) const {
    const unsigned char* d = file_->data();
    uint64_t p = at;
    if (inside(p, 4, limit) && load_le32(d + p) == kDescriptorSig) p += 4;
    if (inside(p, 12, limit) && load_le32(d + p) == entry.crc32 &&
        load_le32(d + p + 4) == entry.size && load_le32(d + p + 8) == entry.size)
      return p + 12;
    if (inside(p, 20, limit) && load_le32(d + p) == entry.crc32 &&
        load_le64(d + p + 4) == entry.size && load_le64(d + p + 12) == entry.size)
      return p + 20;
    fail("entry '" + printable(entry.name) +
         "': its data descriptor is missing or disagrees with the central directory");
  }

  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> by_name_;
};

// ---- restricted unpickler -----------------------------------------------------------------------

namespace pickle {

// A storage a tensor refers to, as the pickle's persistent id describes it.
struct StorageRef {
  std::string key;  // record <archive>/data/<key>
  DType dtype = DType::F32;
  int64_t numel = 0;  // elements
};

// A tensor as _rebuild_tensor_v2 describes it: a strided view of a storage.
struct TensorView {
  size_t storage = 0;
  int64_t offset = 0;  // elements
  Shape size, stride;
};

struct StateDict {
  std::vector<StorageRef> storages;
  std::vector<std::pair<std::string, TensorView>> tensors;  // in pickle order, names unique
};

// Limits far above what any state dict needs (about ten objects per tensor, nesting of 3-4) that
// keep a hostile pickle from exhausting memory or the native stack.
constexpr size_t kMaxDepth = 32;
constexpr size_t kMaxObjects = size_t(1) << 22;
constexpr size_t kMaxStack = size_t(1) << 20;
constexpr size_t kMaxMemo = size_t(1) << 22;
constexpr size_t kMaxDims = 64;
constexpr size_t kMaxGlobalName = 256;

struct Limits {
  size_t depth = kMaxDepth;
  size_t objects = kMaxObjects;
  size_t stack = kMaxStack;
  size_t memo = kMaxMemo;
};

// Names from Python's pickletools, for messages about opcodes that are refused.
inline const char* opcode_name(unsigned char op) {
  // clang-format off
  static const std::pair<unsigned char, const char*> names[] = {
      {'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"}, {'F', "FLOAT"},
      {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'L', "LONG"}, {'M', "BININT2"},
      {'N', "NONE"}, {'P', "PERSID"}, {'Q', "BINPERSID"}, {'R', "REDUCE"}, {'S', "STRING"},
      {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"}, {'X', "BINUNICODE"},
      {'a', "APPEND"}, {'b', "BUILD"}, {'c', "GLOBAL"}, {'d', "DICT"}, {'}', "EMPTY_DICT"},
      {'e', "APPENDS"}, {'g', "GET"}, {'h', "BINGET"}, {'i', "INST"}, {'j', "LONG_BINGET"},
      {'l', "LIST"}, {']', "EMPTY_LIST"}, {'o', "OBJ"}, {'p', "PUT"}, {'q', "BINPUT"},
      {'r', "LONG_BINPUT"}, {'s', "SETITEM"}, {'t', "TUPLE"}, {')', "EMPTY_TUPLE"},
      {'u', "SETITEMS"}, {'G', "BINFLOAT"}, {'B', "BINBYTES"}, {'C', "SHORT_BINBYTES"},
      {0x80, "PROTO"}, {0x81, "NEWOBJ"}, {0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"},
      {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"}, {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"},
      {0x8a, "LONG1"}, {0x8b, "LONG4"}, {0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"},
      {0x8e, "BINBYTES8"}, {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"},
      {0x92, "NEWOBJ_EX"}, {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"}, {0x95, "FRAME"},
      {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
  };
  // clang-format on
  for (const auto& [code, name] : names)
    if (code == op) return name;
  return nullptr;
}

// The only globals a state dict may name. Nothing is looked up by name beyond this table.
enum class Global {
  OrderedDict,
  RebuildTensorV2,
  RebuildParameter,
  RebuildParameterWithState,
  RebuildFromTypeV2,
  TensorType,
  ParameterType,
  StorageType,
};

struct GlobalInfo {
  const char* module;
  const char* name;
  Global kind;
  DType dtype;  // StorageType only
};

inline const std::vector<GlobalInfo>& allowed_globals() {
  static const std::vector<GlobalInfo> table = {
      {"collections", "OrderedDict", Global::OrderedDict, DType::F32},
      {"torch._utils", "_rebuild_tensor_v2", Global::RebuildTensorV2, DType::F32},
      {"torch._utils", "_rebuild_parameter", Global::RebuildParameter, DType::F32},
      {"torch._utils", "_rebuild_parameter_with_state", Global::RebuildParameterWithState,
       DType::F32},
      {"torch._tensor", "_rebuild_from_type_v2", Global::RebuildFromTypeV2, DType::F32},
      {"torch", "Tensor", Global::TensorType, DType::F32},
      {"torch.nn.parameter", "Parameter", Global::ParameterType, DType::F32},
      {"torch", "FloatStorage", Global::StorageType, DType::F32},
      {"torch", "HalfStorage", Global::StorageType, DType::F16},
      {"torch", "BFloat16Storage", Global::StorageType, DType::BF16},
      {"torch", "DoubleStorage", Global::StorageType, DType::F64},
      {"torch", "LongStorage", Global::StorageType, DType::I64},
      {"torch", "IntStorage", Global::StorageType, DType::I32},
      {"torch", "ShortStorage", Global::StorageType, DType::I16},
      {"torch", "CharStorage", Global::StorageType, DType::I8},
      {"torch", "ByteStorage", Global::StorageType, DType::U8},
      {"torch", "BoolStorage", Global::StorageType, DType::BOOL},
  };
  return table;
}

enum class Kind : uint8_t {
  None,
  Bool,
  Int,
  Float,
  Str,
  Bytes,
  Tuple,
  List,
  Dict,
  Global,
  Storage,
  Tensor
};

struct Object;

// A value on the stack: scalars inline, everything else an object in the unpickler's arena.
struct Val {
  Kind kind = Kind::None;
  int64_t i = 0;  // Int, Bool
  double f = 0;   // Float
  Object* o = nullptr;
};

struct Object {
  Kind kind = Kind::None;
  // Set once the object is placed inside another one. Such an object is never modified again:
  // that makes cycles impossible and keeps `depth` exact.
  bool contained = false;
  bool ordered_dict = false;  // made by collections.OrderedDict, so BUILD may set attributes
  size_t depth = 0;           // containers: 1 + deepest child
  std::string_view text;      // Str, Bytes (inside the pickle); Global: never
  std::vector<Val> items;     // Tuple, List; Dict: key, value, key, value, ...
  const GlobalInfo* global = nullptr;
  size_t index = 0;  // Storage: into storages; Tensor: into views
};

// Decodes UTF-8 as Python's "surrogatepass" does: well-formed sequences (surrogates allowed).
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff)
      return false;
    i += n + 1;
  }
  return true;
}

class Unpickler {
 public:
  // `where` names the pickle in messages ("file: entry 'archive/data.pkl'").
  Unpickler(const unsigned char* data, size_t size, std::string where, Limits limits = Limits())
      : data_(data), size_(size), where_(std::move(where)), limits_(limits) {}

  StateDict load() {
    const Val top = run();
    if (top.kind != Kind::Dict)
      fail_plain("the pickle holds " + describe(top) +
                 ", not a dict of tensors (a state dict); ved reads only state dicts");
    StateDict out;
    out.storages = storages_;
    std::unordered_map<std::string_view, size_t> seen;
    const auto& items = top.o->items;
    for (size_t k = 0; k < items.size(); k += 2) {
      const Val& key = items[k];
      const Val& value = items[k + 1];
      if (key.kind != Kind::Str)
        fail_plain("the state dict has a key that is " + describe(key) + ", not a string");
      if (value.kind != Kind::Tensor)
        fail_plain("the state dict maps '" + printable(key.o->text) + "' to " + describe(value) +
                   ", not a tensor");
      const TensorView& view = views_[value.o->index];
      auto [it, fresh] = seen.emplace(key.o->text, out.tensors.size());
      if (fresh) {
        out.tensors.emplace_back(std::string(key.o->text), view);
      } else {
        out.tensors[it->second].second = view;  // as in Python, a repeated key keeps the last
      }
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    const char* name = opcode_name(op_);
    throw FormatError(where_ + ": " + msg + " (opcode " + (name ? name : "?") + " at byte " +
                      std::to_string(op_pos_) + ")");
  }
  [[noreturn]] void fail_plain(const std::string& msg) const {
    throw FormatError(where_ + ": " + msg);
  }

  std::string describe(const Val& v) const {
    switch (v.kind) {
      case Kind::None:
        return "None";
      case Kind::Bool:
        return "a bool";
      case Kind::Int:
        return "an int";
      case Kind::Float:
        return "a float";
      case Kind::Str:
        return "the string '" + printable(v.o->text, 60) + "'";
      case Kind::Bytes:
        return "a bytes object";
      case Kind::Tuple:
        return "a tuple of " + std::to_string(v.o->items.size());
      case Kind::List:
        return "a list";
      case Kind::Dict:
        return "a dict";
      case Kind::Global:
        return std::string("the global '") + v.o->global->module + "." + v.o->global->name + "'";
      case Kind::Storage:
        return "a storage";
      case Kind::Tensor:
        return "a tensor";
    }
    return "?";
  }

  const unsigned char* take(uint64_t n) {
    if (n > size_ - pos_)
      fail("truncated pickle: needs " + std::to_string(n) + " more bytes at byte " +
           std::to_string(pos_) + " but only " + std::to_string(size_ - pos_) + " remain");
    const unsigned char* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  Object* make(Kind kind) {
    if (arena_.size() >= limits_.objects)
      fail("the pickle builds more than " + std::to_string(limits_.objects) + " objects");
    arena_.emplace_back();
    arena_.back().kind = kind;
    return &arena_.back();
  }
  Val object_val(Object* o) {
    Val v;
    v.kind = o->kind;
    v.o = o;
    return v;
  }
  Val scalar(Kind kind, int64_t i) {
    Val v;
    v.kind = kind;
    v.i = i;
    return v;
  }

  // Places `child` inside `parent` (already checked to be modifiable).
  void adopt(Object* parent, const Val& child) {
    if (child.o) {
      if (child.o == parent) fail("an object is placed inside itself");
      child.o->contained = true;
      if (child.o->depth + 1 > parent->depth) parent->depth = child.o->depth + 1;
    } else if (parent->depth < 1) {
      parent->depth = 1;
    }
    if (parent->depth > limits_.depth)
      fail("objects are nested more than " + std::to_string(limits_.depth) +
           " levels deep (a recursion bomb?)");
    parent->items.push_back(child);
  }

  void push(const Val& v) {
    if (stack_.size() >= limits_.stack)
      fail("the pickle stack grows beyond " + std::to_string(limits_.stack) + " entries");
    stack_.push_back(v);
  }
  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  Val pop() {
    if (stack_.size() <= fence()) fail("stack underflow");
    Val v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Val& top() {
    if (stack_.size() <= fence()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<Val> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Val> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  Val make_tuple(const std::vector<Val>& items) {
    Object* t = make(Kind::Tuple);
    t->items.reserve(items.size());
    for (const Val& v : items) adopt(t, v);
    return object_val(t);
  }

  Object* modifiable(Kind kind, const char* what) {
    Val& target = top();
    if (target.kind != kind)
      fail(std::string(what) + " on " + describe(target) + ", expected " +
           (kind == Kind::List ? "a list" : "a dict"));
    if (target.o->contained)
      fail(std::string(what) +
           " modifies an object already stored inside another one (cyclic or self-modifying "
           "pickles are not supported)");
    return target.o;
  }

  std::string_view read_line() {
    const size_t limit = std::min(size_ - pos_, kMaxGlobalName + 1);
    const void* nl = std::memchr(data_ + pos_, '\n', limit);
    if (!nl)
      fail(pos_ + limit == size_
               ? std::string("truncated pickle: GLOBAL name has no end")
               : "GLOBAL name longer than " + std::to_string(kMaxGlobalName) + " bytes");
    const size_t n = static_cast<size_t>(static_cast<const unsigned char*>(nl) - (data_ + pos_));
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n + 1;
    return s;
  }

  Val global(std::string_view module, std::string_view name) {
    for (const GlobalInfo& g : allowed_globals()) {
      if (module == g.module && name == g.name) {
        Object* o = make(Kind::Global);
        o->global = &g;
        return object_val(o);
      }
    }
    fail("global '" + printable(module) + "." + printable(name) +
         "' is not allowed: a state dict names only collections.OrderedDict, torch storage "
         "types and torch's tensor-rebuilding functions, and ved never imports or calls anything");
  }

  Val string_val(Kind kind, uint64_t n) {
    const unsigned char* p = take(n);
    std::string_view s(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    if (kind == Kind::Str && !valid_utf8(s)) fail("string is not valid UTF-8");
    Object* o = make(kind);
    o->text = s;
    return object_val(o);
  }

  static bool is_text(const Val& v) { return v.kind == Kind::Str || v.kind == Kind::Bytes; }

  // ('storage', storage_type, key, location, numel): what torch.save's persistent_id writes.
  Val persistent_load(const Val& pid) {
    if (pid.kind != Kind::Tuple || pid.o->items.size() != 5)
      fail("persistent id is " + describe(pid) +
           ", expected ('storage', storage type, key, location, numel)");
    const auto& it = pid.o->items;
    if (!is_text(it[0]) || it[0].o->text != "storage")
      fail("persistent id of kind " + describe(it[0]) + " is not a storage");
    if (it[1].kind != Kind::Global || it[1].o->global->kind != Global::StorageType)
      fail("persistent id names " + describe(it[1]) + " where a storage type belongs");
    if (!is_text(it[2]) || !is_text(it[3]) || it[4].kind != Kind::Int || it[4].i < 0)
      fail("persistent id has a malformed key, location or element count");
    const DType dtype = it[1].o->global->dtype;
    const std::string key(it[2].o->text);
    auto found = storage_by_key_.find(key);
    size_t index;
    if (found == storage_by_key_.end()) {
      index = storages_.size();
      storages_.push_back({key, dtype, it[4].i});
      storage_by_key_.emplace(key, index);
    } else {
      index = found->second;
      const StorageRef& s = storages_[index];
      if (s.dtype != dtype || s.numel != it[4].i)
        fail("storage '" + printable(key) + "' is described twice differently (" +
             dtype_name(s.dtype) + " x " + std::to_string(s.numel) + ", then " + dtype_name(dtype) +
             " x " + std::to_string(it[4].i) + ")");
    }
    Object* o = make(Kind::Storage);
    o->index = index;
    return object_val(o);
  }

  Shape int_tuple(const Val& v, const char* what) {
    if (v.kind != Kind::Tuple) fail(std::string("tensor ") + what + " is " + describe(v));
    if (v.o->items.size() > kMaxDims)
      fail(std::string("tensor ") + what + " has more than " + std::to_string(kMaxDims) +
           " dimensions");
    Shape out;
    for (const Val& x : v.o->items) {
      if (x.kind != Kind::Int || x.i < 0)
        fail(std::string("tensor ") + what + " holds " + describe(x) +
             " where a non-negative int belongs");
      out.push_back(x.i);
    }
    return out;
  }

  static bool is_state(const Val& v) {
    return v.kind == Kind::None || v.kind == Kind::Dict || v.kind == Kind::Tuple;
  }

  Val call(const Val& func, const Val& args, int level = 0) {
    if (func.kind != Kind::Global) fail("REDUCE calls " + describe(func) + ", not a function");
    if (args.kind != Kind::Tuple) fail("REDUCE arguments are " + describe(args) + ", not a tuple");
    const GlobalInfo& g = *func.o->global;
    const std::vector<Val>& a = args.o->items;
    const std::string fname = std::string(g.module) + "." + g.name;
    auto arity = [&](size_t lo, size_t hi) {
      if (a.size() < lo || a.size() > hi)
        fail(fname + " called with " + std::to_string(a.size()) + " arguments");
    };
    switch (g.kind) {
      case Global::OrderedDict: {
        arity(0, 0);
        Object* d = make(Kind::Dict);
        d->ordered_dict = true;
        return object_val(d);
      }
      case Global::RebuildTensorV2: {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        arity(6, 7);
        if (a[0].kind != Kind::Storage) fail(fname + ": argument 1 is " + describe(a[0]));
        if (a[1].kind != Kind::Int || a[1].i < 0)
          fail(fname + ": storage offset is " + describe(a[1]));
        TensorView view;
        view.storage = a[0].o->index;
        view.offset = a[1].i;
        view.size = int_tuple(a[2], "size");
        view.stride = int_tuple(a[3], "stride");
        if (view.size.size() != view.stride.size())
          fail(fname + ": size " + shape_str(view.size) + " and stride " + shape_str(view.stride) +
               " differ in rank");
        if (a[4].kind != Kind::Bool) fail(fname + ": requires_grad is " + describe(a[4]));
        if (a[5].kind != Kind::Dict) fail(fname + ": backward_hooks is " + describe(a[5]));
        // Metadata marks conjugate/negative views; real weights never carry any.
        if (a.size() == 7 && a[6].kind != Kind::None &&
            !(a[6].kind == Kind::Dict && a[6].o->items.empty()))
          fail(fname + ": tensor metadata " + describe(a[6]) + " is not supported");
        Object* t = make(Kind::Tensor);
        t->index = views_.size();
        views_.push_back(std::move(view));
        return object_val(t);
      }
      case Global::RebuildParameter:
      case Global::RebuildParameterWithState: {
        // (data, requires_grad, backward_hooks[, state]): the parameter is its data.
        const bool with_state = g.kind == Global::RebuildParameterWithState;
        arity(with_state ? 4 : 3, with_state ? 4 : 3);
        if (a[0].kind != Kind::Tensor) fail(fname + ": data is " + describe(a[0]));
        if (a[1].kind != Kind::Bool || a[2].kind != Kind::Dict || (with_state && !is_state(a[3])))
          fail(fname + ": malformed arguments");
        return a[0];
      }
      case Global::RebuildFromTypeV2: {
        // (func, type, args, state): a tensor of a subclass, or with Python attributes.
        arity(4, 4);
        if (a[1].kind != Kind::Global || (a[1].o->global->kind != Global::TensorType &&
                                          a[1].o->global->kind != Global::ParameterType))
          fail(fname + ": tensor type " + describe(a[1]) + " is not supported");
        if (!is_state(a[3])) fail(fname + ": state is " + describe(a[3]));
        if (level > 0 || a[0].kind != Kind::Global ||
            a[0].o->global->kind == Global::RebuildFromTypeV2)
          fail(fname + ": rebuild function " + describe(a[0]) + " is not supported");
        const Val result = call(a[0], a[2], level + 1);
        if (result.kind != Kind::Tensor) fail(fname + ": does not rebuild a tensor");
        return result;
      }
      default:
        fail("the global '" + fname + "' cannot be called");
    }
  }

  Val run() {
    while (true) {
      if (pos_ >= size_) {
        op_pos_ = pos_;
        fail_plain("truncated pickle: it ends at byte " + std::to_string(size_) +
                   " without a STOP opcode");
      }
      op_pos_ = pos_;
      op_ = data_[pos_++];
      switch (op_) {
        case 0x80: {  // PROTO
          const unsigned char v = *take(1);
          if (v > 5) fail("pickle protocol " + std::to_string(v) + " is not supported");
          break;
        }
        case 0x95: {  // FRAME: a length prefix for buffering; the bytes follow as usual
          const uint64_t n = load_le64(take(8));
          if (n > size_ - pos_) fail("frame of " + std::to_string(n) + " bytes runs past the end");
          break;
        }
        case '.': {  // STOP
          const Val v = pop();
          return v;
        }
        case '(':  // MARK
          if (marks_.size() >= limits_.depth)
            fail("MARKs are nested more than " + std::to_string(limits_.depth) +
                 " levels deep (a recursion bomb?)");
          marks_.push_back(stack_.size());
          break;
        case ')':  // EMPTY_TUPLE
          push(object_val(make(Kind::Tuple)));
          break;
        case 't':  // TUPLE
          push(make_tuple(pop_mark()));
          break;
        case 0x85:    // TUPLE1
        case 0x86:    // TUPLE2
        case 0x87: {  // TUPLE3
          const size_t n = op_ - 0x84u;
          if (stack_.size() < fence() + n) fail("stack underflow");
          std::vector<Val> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(make_tuple(items));
          break;
        }
        case ']':  // EMPTY_LIST
          push(object_val(make(Kind::List)));
          break;
        case '}':  // EMPTY_DICT
          push(object_val(make(Kind::Dict)));
          break;
        case 'a': {  // APPEND
          const Val v = pop();
          adopt(modifiable(Kind::List, "APPEND"), v);
          break;
        }
        case 'e': {  // APPENDS
          std::vector<Val> items = pop_mark();
          Object* list = modifiable(Kind::List, "APPENDS");
          for (const Val& v : items) adopt(list, v);
          break;
        }
        case 's': {  // SETITEM
          const Val v = pop();
          const Val k = pop();
          Object* dict = modifiable(Kind::Dict, "SETITEM");
          adopt(dict, k);
          adopt(dict, v);
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<Val> items = pop_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of items");
          Object* dict = modifiable(Kind::Dict, "SETITEMS");
          for (const Val& v : items) adopt(dict, v);
          break;
        }
        case 'q':  // BINPUT
          memo_put(*take(1));
          break;
        case 'r':  // LONG_BINPUT
          memo_put(load_le32(take(4)));
          break;
        case 0x94:  // MEMOIZE
          memo_put(memo_.size());
          break;
        case 'h':  // BINGET
          memo_get(*take(1));
          break;
        case 'j':  // LONG_BINGET
          memo_get(load_le32(take(4)));
          break;
        case 'J': {  // BININT: signed 32-bit
          const uint32_t u = load_le32(take(4));
          int32_t s;
          std::memcpy(&s, &u, 4);
          push(scalar(Kind::Int, s));
          break;
        }
        case 'K':  // BININT1: unsigned 8-bit
          push(scalar(Kind::Int, *take(1)));
          break;
        case 'M':  // BININT2: unsigned 16-bit
          push(scalar(Kind::Int, load_le16(take(2))));
          break;
        case 0x8a: {  // LONG1: little-endian two's complement of n bytes
          const unsigned char n = *take(1);
          const unsigned char* p = take(n);
          if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
          uint64_t u = 0;
          for (size_t k = 0; k < n; ++k) u |= static_cast<uint64_t>(p[k]) << (8 * k);
          if (n > 0 && n < 8 && (p[n - 1] & 0x80)) u |= ~uint64_t(0) << (8 * n);
          int64_t s;
          std::memcpy(&s, &u, 8);
          push(scalar(Kind::Int, s));
          break;
        }
        case 'G': {  // BINFLOAT: big-endian double
          const unsigned char* p = take(8);
          uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = (u << 8) | p[k];
          Val v;
          v.kind = Kind::Float;
          std::memcpy(&v.f, &u, 8);
          push(v);
          break;
        }
        case 'N':  // NONE
          push(Val{});
          break;
        case 0x88:  // NEWTRUE
          push(scalar(Kind::Bool, 1));
          break;
        case 0x89:  // NEWFALSE
          push(scalar(Kind::Bool, 0));
          break;
        case 'X':  // BINUNICODE
          push(string_val(Kind::Str, load_le32(take(4))));
          break;
        case 0x8c:  // SHORT_BINUNICODE
          push(string_val(Kind::Str, *take(1)));
          break;
        case 0x8d:  // BINUNICODE8
          push(string_val(Kind::Str, load_le64(take(8))));
          break;
        case 'U':  // SHORT_BINSTRING
        case 'C':  // SHORT_BINBYTES
          push(string_val(Kind::Bytes, *take(1)));
          break;
        case 'B':  // BINBYTES
          push(string_val(Kind::Bytes, load_le32(take(4))));
          break;
        case 'c': {  // GLOBAL
          const std::string_view module = read_line();
          const std::string_view name = read_line();
          push(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const Val name = pop();
          const Val module = pop();
          if (module.kind != Kind::Str || name.kind != Kind::Str)
            fail("STACK_GLOBAL needs two strings");
          push(global(module.o->text, name.o->text));
          break;
        }
        case 'R': {  // REDUCE
          const Val args = pop();
          const Val func = pop();
          if (args.o) args.o->contained = true;  // the call's arguments are consumed
          push(call(func, args));
          break;
        }
        case 'b': {  // BUILD
          const Val state = pop();
          Val& inst = top();
          // Only an OrderedDict's attributes (torch's `_metadata`) are ever set; they do not
          // affect the tensors, so the state is checked for shape and dropped.
          if (inst.kind != Kind::Dict || !inst.o->ordered_dict)
            fail("BUILD on " + describe(inst) + " is not supported");
          if (!is_state(state)) fail("BUILD with " + describe(state));
          if (state.o) state.o->contained = true;
          break;
        }
        case 'Q':  // BINPERSID
          push(persistent_load(pop()));
          break;
        default: {
          const char* name = opcode_name(op_);
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op_);
          fail_plain(std::string("unsupported pickle opcode ") + hex + " (" +
                     (name ? name : "unknown") + ") at byte " + std::to_string(op_pos_));
        }
      }
    }
  }

  void memo_put(uint64_t index) {
    const Val v = top();
    auto it = memo_.find(index);
    if (it == memo_.end()) {
      if (memo_.size() >= limits_.memo)
        fail("the memo grows beyond " + std::to_string(limits_.memo) + " entries");
      memo_.emplace(index, v);
    } else {
      it->second = v;
    }
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " was never stored");
    push(it->second);
  }

  const unsigned char* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  unsigned char op_ = 0;
  std::string where_;
  Limits limits_;
  std::deque<Object> arena_;  // stable addresses; freed all at once, so no recursion on exit
  std::vector<Val> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Val> memo_;
  std::vector<StorageRef> storages_;
  std::map<std::string, size_t> storage_by_key_;
  std::vector<TensorView> views_;
};

}  // namespace pickle

// torch.save before 1.6 wrote a bare pickle stream (starting with PROTO, then the magic number
// 0x1950a86a20f9469cfc6c as LONG1), and earlier versions a tar archive.
inline bool is_legacy_torch_file(const unsigned char* d, size_t n) {
  if (n >= 2 && d[0] == 0x80 && d[1] <= 5) return true;
  return n >= 262 && std::memcmp(d + 257, "ustar", 5) == 0;
}

}  // namespace detail

// One tensor of a torch checkpoint: a strided view of a storage inside the mapping.
struct TorchTensorRecord {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  Shape strides;               // elements
  int64_t storage_offset = 0;  // elements
  std::string storage;         // zip entry, e.g. "pytorch_model/data/3"
  const unsigned char* storage_bytes = nullptr;
  size_t storage_nbytes = 0;

  // Row-major contiguous (dimensions of size 1 may have any stride).
  bool contiguous() const {
    int64_t expected = 1;
    for (size_t i = shape.size(); i-- > 0;) {
      if (shape[i] == 1) continue;
      if (strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }
};

class TorchCheckpoint {
 public:
  static std::shared_ptr<const TorchCheckpoint> open(const std::string& path) {
    return std::shared_ptr<const TorchCheckpoint>(new TorchCheckpoint(path));
  }

  const std::string& path() const { return file_->path(); }
  const std::map<std::string, TorchTensorRecord>& records() const { return records_; }
  bool contains(const std::string& name) const { return records_.count(name) != 0; }

  const TorchTensorRecord& record(const std::string& name) const {
    auto it = records_.find(name);
    if (it == records_.end()) throw WeightError(path() + ": no tensor named '" + name + "'");
    return it->second;
  }

  // The tensor converted to T, like SafetensorsFile::tensor: contiguous, aligned F32 data is used
  // in place; views are gathered, F16/BF16/F64 converted to float, integer types to integer T.
  template <typename T>
  Tensor<T> tensor(const std::string& name) const;

  // The tensor's bytes in its own dtype, row-major and contiguous (for writing it elsewhere).
  std::vector<unsigned char> contiguous_bytes(const std::string& name) const {
    const TorchTensorRecord& r = record(name);
    const size_t esize = dtype_size(r.dtype);
    std::vector<unsigned char> out(static_cast<size_t>(shape_numel(r.shape)) * esize);
    for_each_element(r, [&](int64_t i, int64_t src) {
      std::memcpy(out.data() + static_cast<size_t>(i) * esize,
                  r.storage_bytes + static_cast<size_t>(src) * esize, esize);
    });
    return out;
  }

 private:
  explicit TorchCheckpoint(const std::string& path)
      : file_(std::make_shared<detail::MappedFile>(path)) {
    if (detail::is_legacy_torch_file(file_->data(), file_->size()))
      throw FormatError(
          path +
          ": this is a legacy PyTorch checkpoint (a bare pickle stream or tar archive, as "
          "torch.save wrote before PyTorch 1.6 or with _use_new_zipfile_serialization=False), "
          "which ved does not read. Re-save it with PyTorch >= 1.6, e.g. "
          "torch.save(torch.load(f, weights_only=True), f), or as safetensors with "
          "save_pretrained(dir, safe_serialization=True); `ved convert` reads only the zip "
          "format");
    if (file_->size() < 4 || detail::load_le32(file_->data()) != 0x04034b50)
      throw FormatError(path +
                        ": not a PyTorch checkpoint (a zip archive as torch.save writes it); the "
                        "file does not start with a zip local file header");
    detail::ZipArchive zip(file_);
    parse(zip);
  }

  void parse(const detail::ZipArchive& zip) {
    const std::string& p = path();
    if (zip.entries().empty()) throw FormatError(p + ": the zip archive holds no entries");
    // As torch does: the first entry's folder is the archive name every record lives under.
    const std::string& first = zip.entries().front().name;
    const size_t slash = first.find('/');
    if (slash == std::string::npos || slash == 0)
      throw FormatError(p + ": zip entry '" + detail::printable(first) +
                        "' is not inside an archive folder, as torch.save writes it");
    const std::string prefix = first.substr(0, slash + 1);
    auto entry = [&](const std::string& rel) { return zip.find(prefix + rel); };

    const detail::ZipEntry* version = entry("version");
    if (!version) version = entry(".data/version");
    if (!version) throw FormatError(p + ": no '" + detail::printable(prefix) + "version' record");
    {
      std::string v(zip.text(*version));
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.pop_back();
      const bool digits = !v.empty() && v.size() < 6 && std::all_of(v.begin(), v.end(), [](char c) {
        return c >= '0' && c <= '9';
      });
      const int n = digits ? std::stoi(v) : -1;
      if (n < 1 || n > 10)
        throw FormatError(p + ": unsupported checkpoint format version '" +
                          detail::printable(v, 20) + "' in '" + detail::printable(version->name) +
                          "'");
    }
    if (const detail::ZipEntry* order = entry("byteorder")) {
      const std::string_view o = zip.text(*order);
      if (o == "big")
        throw FormatError(p +
                          ": the checkpoint was saved on a big-endian machine; ved reads only "
                          "little-endian checkpoints");
      if (o != "little")
        throw FormatError(p + ": unknown byte order '" + detail::printable(o, 20) + "' in '" +
                          detail::printable(order->name) + "'");
    }
    const detail::ZipEntry* pkl = entry("data.pkl");
    if (!pkl) throw FormatError(p + ": no '" + detail::printable(prefix) + "data.pkl' record");
    const detail::pickle::StateDict sd =
        detail::pickle::Unpickler(zip.data(*pkl), static_cast<size_t>(pkl->size),
                                  p + ": entry '" + detail::printable(pkl->name) + "'")
            .load();

    struct Storage {
      const unsigned char* bytes;
      size_t nbytes;
      std::string entry;
    };
    std::vector<Storage> storages;
    for (const auto& s : sd.storages) {
      const std::string name = prefix + "data/" + s.key;
      const detail::ZipEntry* e = zip.find(name);
      if (!e)
        throw FormatError(p + ": the pickle refers to storage '" + detail::printable(s.key) +
                          "' but the archive has no entry '" + detail::printable(name) + "'");
      const uint64_t esize = dtype_size(s.dtype);
      if (static_cast<uint64_t>(s.numel) > UINT64_MAX / esize ||
          static_cast<uint64_t>(s.numel) * esize != e->size)
        throw FormatError(p + ": storage '" + detail::printable(name) + "' should hold " +
                          std::to_string(s.numel) + " " + dtype_name(s.dtype) +
                          " elements but its entry has " + std::to_string(e->size) + " bytes");
      storages.push_back({zip.data(*e), static_cast<size_t>(e->size), name});
    }
    for (const auto& [name, v] : sd.tensors) {
      const detail::pickle::StorageRef& s = sd.storages[v.storage];
      TorchTensorRecord r;
      r.name = name;
      r.dtype = s.dtype;
      r.shape = v.size;
      r.strides = v.stride;
      r.storage_offset = v.offset;
      r.storage = storages[v.storage].entry;
      r.storage_bytes = storages[v.storage].bytes;
      r.storage_nbytes = storages[v.storage].nbytes;
      check_view(r, s.numel);
      records_.emplace(name, std::move(r));
    }
  }

  // Every element the view reaches must lie inside its storage.
  void check_view(const TorchTensorRecord& r, int64_t storage_numel) const {
    const std::string where = path() + ": tensor '" + detail::printable(r.name) + "'";
    int64_t numel;
    try {
      numel = shape_numel(r.shape);
    } catch (const Error&) {
      throw FormatError(where + ": size " + shape_str(r.shape) + " overflows");
    }
    if (numel == 0) return;
    // A view may repeat storage elements (stride 0), so its size is not bounded by the file: a
    // 1-element storage can claim 2^62 elements. Reading it would allocate that much.
    const uint64_t esize = dtype_size(r.dtype), max = limits().max_total_weight_bytes;
    if (static_cast<uint64_t>(numel) > max / esize)
      throw WeightError(where + ": size " + shape_str(r.shape) + " of " + dtype_name(r.dtype) +
                        ": " +
                        detail::limit_message("tensor bytes", static_cast<uint64_t>(numel) * esize,
                                              "max_total_weight_bytes", max));
    // Largest element index reached: offset + sum((size - 1) * stride), with overflow checks.
    uint64_t last = static_cast<uint64_t>(r.storage_offset);
    bool overflow = false;
    for (size_t i = 0; i < r.shape.size(); ++i) {
      const uint64_t extent = static_cast<uint64_t>(r.shape[i] - 1),
                     stride = static_cast<uint64_t>(r.strides[i]);
      if (stride != 0 && extent > (UINT64_MAX / 2) / stride) {
        overflow = true;
        break;
      }
      if (extent * stride > UINT64_MAX / 2 - last) {
        overflow = true;
        break;
      }
      last += extent * stride;
    }
    if (overflow || last >= static_cast<uint64_t>(storage_numel))
      throw FormatError(where + ": the view with size " + shape_str(r.shape) + ", stride " +
                        shape_str(r.strides) + " and offset " + std::to_string(r.storage_offset) +
                        " reaches beyond its storage '" + r.storage + "' of " +
                        std::to_string(storage_numel) + " elements");
  }

  // Calls f(i, s) for each element in row-major order: i its index in the result, s its element
  // index in the storage.
  template <typename F>
  static void for_each_element(const TorchTensorRecord& r, F&& f) {
    const int64_t n = shape_numel(r.shape);
    if (n == 0) return;
    if (r.contiguous()) {
      for (int64_t i = 0; i < n; ++i) f(i, r.storage_offset + i);
      return;
    }
    const size_t nd = r.shape.size();
    std::vector<int64_t> idx(nd, 0);
    int64_t src = r.storage_offset;
    for (int64_t i = 0; i < n; ++i) {
      f(i, src);
      // Advance the multi-index like an odometer, keeping `src` in step.
      for (size_t d = nd; d-- > 0;) {
        if (++idx[d] < r.shape[d]) {
          src += r.strides[d];
          break;
        }
        src -= (r.shape[d] - 1) * r.strides[d];
        idx[d] = 0;
      }
    }
  }

  std::shared_ptr<detail::MappedFile> file_;
  std::map<std::string, TorchTensorRecord> records_;
};

template <typename T>
Tensor<T> TorchCheckpoint::tensor(const std::string& name) const {
  const TorchTensorRecord& r = record(name);
  if constexpr (std::is_same_v<T, float>) {
    const unsigned char* start = r.storage_bytes + static_cast<size_t>(r.storage_offset) * 4;
    if (r.dtype == DType::F32 && r.contiguous() &&
        static_cast<size_t>(shape_numel(r.shape)) * 4 >= detail::kMinAliasedBytes &&
        reinterpret_cast<uintptr_t>(start) % alignof(float) == 0) {
      // Alias the mapping: the shared_ptr keeps the whole file mapped while the tensor lives.
      auto keep = file_;
      return Tensor<float>(r.shape,
                           std::shared_ptr<float>(
                               keep, reinterpret_cast<float*>(const_cast<unsigned char*>(start))));
    }
  }
  Tensor<T> t(r.shape);
  T* out = t.data();
  auto convert = [&](auto raw_tag, auto&& conv) {
    using Raw = decltype(raw_tag);
    for_each_element(r, [&](int64_t i, int64_t src) {
      Raw raw;
      std::memcpy(&raw, r.storage_bytes + static_cast<size_t>(src) * sizeof(Raw), sizeof(Raw));
      out[i] = conv(raw);
    });
  };
  auto cast = [](auto v) { return static_cast<T>(v); };
  auto unsupported = [&] {
    return WeightError(
        path() + ": tensor '" + name + "' has dtype " + dtype_name(r.dtype) +
        ", which cannot be read as " +
        (std::is_floating_point_v<T> ? "floating point (F32, F16, BF16, F64)" : "integer"));
  };
  if constexpr (std::is_floating_point_v<T>) {
    switch (r.dtype) {
      case DType::F32:
        convert(float{}, cast);
        break;
      case DType::F64:
        convert(double{}, cast);
        break;
      case DType::F16:
        convert(uint16_t{}, [](uint16_t v) { return static_cast<T>(detail::f16_to_f32(v)); });
        break;
      case DType::BF16:
        convert(uint16_t{}, [](uint16_t v) { return static_cast<T>(detail::bf16_to_f32(v)); });
        break;
      default:
        throw unsupported();
    }
  } else {
    switch (r.dtype) {
      case DType::I64:
        convert(int64_t{}, cast);
        break;
      case DType::I32:
        convert(int32_t{}, cast);
        break;
      case DType::I16:
        convert(int16_t{}, cast);
        break;
      case DType::I8:
        convert(int8_t{}, cast);
        break;
      case DType::U8:
      case DType::BOOL:
        convert(uint8_t{}, cast);
        break;
      default:
        throw unsupported();
    }
  }
  return t;
}

}  // namespace ved
