// The PyTorch checkpoint reader against archives built byte by byte here: well-formed state dicts
// (views, shared storages, every dtype and pickle spelling torch uses), hostile pickles that try
// to run code, bombs, and zip files that lie about their contents.

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "../test_util.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/io/torch_checkpoint.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

void put16(std::string& s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void patch32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void patch16(std::string& s, size_t at, uint16_t v) {
  for (int i = 0; i < 2; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// ---- a pickle writer: the opcodes Python's pickler (protocol 2) emits for torch.save ----------

class Pickle {
 public:
  Pickle& op(unsigned char c) {
    b_ += static_cast<char>(c);
    return *this;
  }
  Pickle& raw(const std::string& s) {
    b_ += s;
    return *this;
  }
  Pickle& proto(int v = 2) { return op(0x80).op(static_cast<unsigned char>(v)); }
  Pickle& mark() { return op('('); }
  Pickle& stop() { return op('.'); }
  Pickle& empty_dict() { return op('}'); }
  Pickle& empty_list() { return op(']'); }
  Pickle& empty_tuple() { return op(')'); }
  Pickle& tuple() { return op('t'); }
  Pickle& reduce() { return op('R'); }
  Pickle& setitems() { return op('u'); }
  Pickle& none() { return op('N'); }
  Pickle& boolean(bool v) { return op(v ? 0x88 : 0x89); }
  Pickle& binput(unsigned char i) { return op('q').op(i); }
  Pickle& binget(unsigned char i) { return op('h').op(i); }
  // The smallest encoding, as Python's pickler chooses it.
  Pickle& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').op(static_cast<unsigned char>(v));
    if (v >= 0 && v < 65536) {
      op('M');
      put16(b_, static_cast<uint16_t>(v));
      return *this;
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      put32(b_, static_cast<uint32_t>(static_cast<int32_t>(v)));
      return *this;
    }
    op(0x8a).op(8);
    put64(b_, static_cast<uint64_t>(v));
    return *this;
  }
  Pickle& str(const std::string& s) {
    op('X');
    put32(b_, static_cast<uint32_t>(s.size()));
    b_ += s;
    return *this;
  }
  Pickle& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  Pickle& int_tuple(const Shape& v) {
    mark();
    for (int64_t x : v) integer(x);
    return tuple();
  }
  Pickle& ordered_dict() { return global("collections", "OrderedDict").empty_tuple().reduce(); }
  // ('storage', torch.<type>, key, 'cpu', numel) as a persistent id.
  Pickle& storage(const std::string& type, const std::string& key, int64_t numel) {
    mark().str("storage").global("torch", type).str(key).str("cpu").integer(numel).tuple();
    return op('Q');
  }
  // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
  Pickle& tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset,
                 const Shape& size, const Shape& stride) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    storage(type, key, numel).integer(offset).int_tuple(size).int_tuple(stride).boolean(false);
    return ordered_dict().tuple().reduce();
  }
  const std::string& bytes() const { return b_; }

 private:
  std::string b_;
};

// A state dict pickle: {name: value} with each value written by its function.
std::string state_dict(
    const std::vector<std::pair<std::string, std::function<void(Pickle&)>>>& kv) {
  Pickle p;
  p.proto().empty_dict().binput(0).mark();
  for (const auto& [name, value] : kv) {
    p.str(name);
    value(p);
  }
  p.setitems().stop();
  return p.bytes();
}

std::string floats(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// ---- a zip writer laid out as torch.save does it --------------------------------------------

uint32_t crc32(const std::string& s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

struct ZipOptions {
  bool descriptor = true;    // sizes after the data, zeros in the local header (as torch)
  bool zip64_end = true;     // zip64 end records (as torch)
  bool zip64_extra = false;  // sizes and offsets in zip64 extra fields of the central directory
  uint16_t method = 0;       // for the entry named `method_entry`
  std::string method_entry;
  uint16_t extra_flags = 0;  // OR-ed into every entry's flags
};

std::string zip(const std::vector<std::pair<std::string, std::string>>& entries,
                const ZipOptions& o = {}) {
  std::string out, cd;
  const uint16_t flags = static_cast<uint16_t>((o.descriptor ? 0x0808 : 0x0800) | o.extra_flags);
  for (const auto& [name, data] : entries) {
    const uint16_t method = name == o.method_entry ? o.method : 0;
    const uint64_t header = out.size();
    // Pad with an extra field so the data starts on a 64-byte boundary, as torch does.
    size_t pad = (64 - (header + 30 + name.size() + 4) % 64) % 64;
    const uint32_t crc = crc32(data);
    put32(out, 0x04034b50);
    put16(out, 20);
    put16(out, flags);
    put16(out, method);
    put32(out, 0);  // time, date
    put32(out, o.descriptor ? 0 : crc);
    put32(out, o.descriptor ? 0 : static_cast<uint32_t>(data.size()));
    put32(out, o.descriptor ? 0 : static_cast<uint32_t>(data.size()));
    put16(out, static_cast<uint16_t>(name.size()));
    put16(out, static_cast<uint16_t>(4 + pad));
    out += name;
    out += "FB";
    put16(out, static_cast<uint16_t>(pad));
    out += std::string(pad, 'Z');
    out += data;
    if (o.descriptor) {
      put32(out, 0x08074b50);
      put32(out, crc);
      put32(out, static_cast<uint32_t>(data.size()));
      put32(out, static_cast<uint32_t>(data.size()));
    }
    put32(cd, 0x02014b50);
    put16(cd, 20);
    put16(cd, 20);
    put16(cd, flags);
    put16(cd, method);
    put32(cd, 0);
    put32(cd, crc);
    put32(cd, o.zip64_extra ? 0xffffffffu : static_cast<uint32_t>(data.size()));
    put32(cd, o.zip64_extra ? 0xffffffffu : static_cast<uint32_t>(data.size()));
    put16(cd, static_cast<uint16_t>(name.size()));
    put16(cd, o.zip64_extra ? 28 : 0);
    put16(cd, 0);  // comment
    put16(cd, 0);  // disk
    put16(cd, 0);  // internal attributes
    put32(cd, 0);  // external attributes
    put32(cd, o.zip64_extra ? 0xffffffffu : static_cast<uint32_t>(header));
    cd += name;
    if (o.zip64_extra) {
      put16(cd, 1);
      put16(cd, 24);
      put64(cd, data.size());
      put64(cd, data.size());
      put64(cd, header);
    }
  }
  const uint64_t cd_offset = out.size();
  out += cd;
  if (o.zip64_end) {
    const uint64_t end64 = out.size();
    put32(out, 0x06064b50);
    put64(out, 44);
    put16(out, 45);
    put16(out, 45);
    put32(out, 0);
    put32(out, 0);
    put64(out, entries.size());
    put64(out, entries.size());
    put64(out, cd.size());
    put64(out, cd_offset);
    put32(out, 0x07064b50);
    put32(out, 0);
    put64(out, end64);
    put32(out, 1);
  }
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint16_t>(entries.size()));
  put16(out, static_cast<uint16_t>(entries.size()));
  put32(out, static_cast<uint32_t>(cd.size()));
  put32(out, static_cast<uint32_t>(cd_offset));
  put16(out, 0);
  return out;
}

// A checkpoint archive: archive/data.pkl, archive/data/<key> for each storage, archive/version.
std::string checkpoint(const std::string& pkl,
                       const std::vector<std::pair<std::string, std::string>>& storages = {},
                       const ZipOptions& o = {}) {
  std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", pkl}};
  for (const auto& [key, bytes] : storages) entries.emplace_back("archive/data/" + key, bytes);
  entries.emplace_back("archive/version", "3\n");
  return zip(entries, o);
}

// Offsets of an entry's central directory record and local header in a built archive.
size_t central_of(const std::string& z, const std::string& name) {
  const std::string sig("PK\x01\x02", 4);
  for (size_t p = z.find(sig); p != std::string::npos; p = z.find(sig, p + 1))
    if (z.compare(p + 46, name.size(), name) == 0) return p;
  ADD_FAILURE() << "no central directory entry " << name;
  return 0;
}
size_t local_of(const std::string& z, const std::string& name) {
  const std::string sig("PK\x03\x04", 4);
  for (size_t p = z.find(sig); p != std::string::npos; p = z.find(sig, p + 1))
    if (z.compare(p + 30, name.size(), name) == 0) return p;
  ADD_FAILURE() << "no local header " << name;
  return 0;
}

// Opening `bytes` as a checkpoint fails with E naming the file and every one of `needles`.
template <typename E = FormatError>
void expect_rejected(const std::string& bytes, const std::vector<std::string>& needles) {
  TempDir dir;
  const std::string path = dir.write("pytorch_model.bin", bytes);
  try {
    TorchCheckpoint::open(path);
    ADD_FAILURE() << "accepted; expected an error mentioning '" << needles.front() << "'";
  } catch (const E& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << "message does not name the file: " << what;
    for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << what;
  }
}

std::string one_tensor_pickle() {
  return state_dict({{"w", [](Pickle& p) {
                        p.tensor("FloatStorage", "0", 4, 0, {2, 2}, {2, 1});
                      }}});
}

// ---- well-formed checkpoints ----------------------------------------------------------------

TEST(TorchCheckpoint, ReadsAStateDict) {
  TempDir dir;
  const std::string pkl = state_dict({
      {"a",
       [](Pickle& p) {
         p.tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
       }},
      {"ids", [](Pickle& p) { p.tensor("LongStorage", "1", 3, 0, {3}, {1}); }},
      {"scalar", [](Pickle& p) { p.tensor("FloatStorage", "2", 1, 0, {}, {}); }},
      {"empty",
       [](Pickle& p) {
         p.tensor("FloatStorage", "3", 0, 0, {0, 4}, {4, 1});
       }},
      {"big",
       [](Pickle& p) {
         p.tensor("FloatStorage", "4", 1 << 18, 0, {512, 512}, {512, 1});
       }},
  });
  std::string ids(24, '\0');
  const int64_t idv[] = {1, -1, int64_t(1) << 40};
  std::memcpy(ids.data(), idv, 24);
  std::vector<float> big(1 << 18);  // 1 MiB
  for (size_t k = 0; k < big.size(); ++k) big[k] = static_cast<float>(k % 1000) - 500.0f;
  const std::string path = dir.write(
      "pytorch_model.bin", checkpoint(pkl, {{"0", floats({1, -2, 3.5f, 0, 1e-8f, -1e30f})},
                                            {"1", ids},
                                            {"2", floats({7})},
                                            {"3", ""},
                                            {"4", floats(big)}}));
  const auto ckpt = TorchCheckpoint::open(path);
  EXPECT_EQ(ckpt->records().size(), 5u);
  const Tensor<float> a = ckpt->tensor<float>("a");
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_EQ(std::vector<float>(a.begin(), a.end()),
            (std::vector<float>{1, -2, 3.5f, 0, 1e-8f, -1e30f}));
  const Tensor<int64_t> i = ckpt->tensor<int64_t>("ids");
  EXPECT_EQ(std::vector<int64_t>(i.begin(), i.end()), std::vector<int64_t>(idv, idv + 3));
  EXPECT_EQ(ckpt->tensor<float>("scalar").shape(), Shape{});
  EXPECT_EQ(ckpt->tensor<float>("scalar").data()[0], 7.0f);
  EXPECT_EQ(ckpt->tensor<float>("empty").numel(), 0);
  EXPECT_THROW(ckpt->tensor<float>("ids"), WeightError);
  EXPECT_THROW(ckpt->tensor<int64_t>("a"), WeightError);
  EXPECT_THROW(ckpt->tensor<float>("nope"), WeightError);
  // Aligned, contiguous F32 of 1 MiB or more is read in place; smaller tensors are copied
  // (detail::kMinAliasedBytes).
  const Tensor<float> b = ckpt->tensor<float>("big");
  EXPECT_EQ(std::vector<float>(b.begin(), b.end()), big);
  EXPECT_EQ(ckpt->tensor<float>("big").data(), b.data());
  EXPECT_EQ(reinterpret_cast<const unsigned char*>(b.data()), ckpt->record("big").storage_bytes);
  EXPECT_NE(ckpt->tensor<float>("a").data(), a.data());
}

TEST(TorchCheckpoint, ViewsOfASharedStorage) {
  TempDir dir;
  // One storage of 12 floats 0..11 seen as [3,4], its transpose, a sub-block, an expanded row,
  // a tied second name for the same tensor object (BINGET), and a second persistent id.
  Pickle p;
  p.proto().empty_dict().binput(0).mark();
  p.str("a").tensor("FloatStorage", "s", 12, 0, {3, 4}, {4, 1}).binput(1);
  p.str("a_t").tensor("FloatStorage", "s", 12, 0, {4, 3}, {1, 4});
  p.str("block").tensor("FloatStorage", "s", 12, 5, {2, 2}, {4, 1});
  p.str("row_expanded").tensor("FloatStorage", "s", 12, 8, {2, 4}, {0, 1});
  p.str("tied").binget(1);
  p.str("tail").tensor("FloatStorage", "s", 12, 10, {2}, {1});
  p.setitems().stop();
  std::vector<float> v(12);
  for (int k = 0; k < 12; ++k) v[static_cast<size_t>(k)] = static_cast<float>(k);
  const auto ckpt = TorchCheckpoint::open(
      dir.write("pytorch_model.bin", checkpoint(p.bytes(), {{"s", floats(v)}})));
  auto values = [&](const std::string& name) {
    const Tensor<float> t = ckpt->tensor<float>(name);
    return std::vector<float>(t.begin(), t.end());
  };
  EXPECT_EQ(values("a"), v);
  EXPECT_EQ(values("a_t"), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_FALSE(ckpt->record("a_t").contiguous());
  EXPECT_EQ(values("block"), (std::vector<float>{5, 6, 9, 10}));
  EXPECT_EQ(values("row_expanded"), (std::vector<float>{8, 9, 10, 11, 8, 9, 10, 11}));
  EXPECT_EQ(values("tied"), v);
  EXPECT_EQ(values("tail"), (std::vector<float>{10, 11}));
  EXPECT_EQ(ckpt->record("a").storage, ckpt->record("block").storage);

  // The same views through WeightSource, and written out contiguous in their own dtype.
  TempDir folder;
  fs::copy_file(ckpt->path(), folder.file("pytorch_model.bin"));
  const auto src = WeightSource::from_dir(folder.str());
  const TensorToWrite t = src->stored("a_t");
  EXPECT_EQ(t.dtype, DType::F32);
  std::vector<float> back(12);
  ASSERT_EQ(t.bytes.size(), 48u);
  std::memcpy(back.data(), t.bytes.data(), 48);
  EXPECT_EQ(back, values("a_t"));
  EXPECT_EQ(src->tensor<float>("block", {2, 2}).data()[3], 10.0f);
  EXPECT_THROW(src->tensor<float>("block", {4}), WeightError);
}

TEST(TorchCheckpoint, ConvertsHalfBFloat16DoubleAndIntegerStorages) {
  TempDir dir;
  const std::string f16("\x00\x3c\x00\xc0\x01\x00\x00\x7c", 8);  // 1, -2, 2^-24, inf
  const std::string bf16("\x80\x3f\x00\xbf", 4);                 // 1, -0.5
  std::string f64(16, '\0'), i32(8, '\0');
  const double dv[] = {0.25, -3};
  const int32_t iv[] = {-7, 1 << 30};
  std::memcpy(f64.data(), dv, 16);
  std::memcpy(i32.data(), iv, 8);
  const std::string pkl = state_dict({
      {"h", [](Pickle& p) { p.tensor("HalfStorage", "0", 4, 0, {4}, {1}); }},
      {"h_odd", [](Pickle& p) { p.tensor("HalfStorage", "0", 4, 1, {2}, {2}); }},
      {"b", [](Pickle& p) { p.tensor("BFloat16Storage", "1", 2, 0, {2}, {1}); }},
      {"d", [](Pickle& p) { p.tensor("DoubleStorage", "2", 2, 0, {2}, {1}); }},
      {"i", [](Pickle& p) { p.tensor("IntStorage", "3", 2, 0, {2}, {1}); }},
  });
  const auto ckpt = TorchCheckpoint::open(dir.write(
      "pytorch_model.bin", checkpoint(pkl, {{"0", f16}, {"1", bf16}, {"2", f64}, {"3", i32}})));
  const Tensor<float> h = ckpt->tensor<float>("h");
  EXPECT_EQ(h.data()[0], 1.0f);
  EXPECT_EQ(h.data()[1], -2.0f);
  EXPECT_EQ(h.data()[2], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(h.data()[3]));
  const Tensor<float> odd = ckpt->tensor<float>("h_odd");
  EXPECT_EQ(odd.data()[0], -2.0f);
  EXPECT_TRUE(std::isinf(odd.data()[1]));
  EXPECT_EQ(ckpt->tensor<float>("b").data()[1], -0.5f);
  EXPECT_EQ(ckpt->tensor<float>("d").data()[1], -3.0f);
  const Tensor<int64_t> i = ckpt->tensor<int64_t>("i");
  EXPECT_EQ(i.data()[0], -7);
  EXPECT_EQ(i.data()[1], 1 << 30);
  // Written out, F16 stays F16.
  EXPECT_EQ(ckpt->record("h").dtype, DType::F16);
  EXPECT_EQ(ckpt->contiguous_bytes("h_odd"), (std::vector<unsigned char>{0x00, 0xc0, 0x00, 0x7c}));
}

TEST(TorchCheckpoint, ParametersSubclassWrappersAndOrderedDictMetadata) {
  TempDir dir;
  // What model.state_dict() of real models and torch 2.x spellings look like: an OrderedDict with
  // `_metadata` set by BUILD, parameters, _rebuild_from_type_v2, a 7th metadata argument.
  Pickle p;
  p.proto().ordered_dict().binput(0).mark();
  p.str("param").global("torch._utils", "_rebuild_parameter").mark();
  p.tensor("FloatStorage", "0", 2, 0, {2}, {1}).boolean(true).ordered_dict().tuple().reduce();
  p.str("typed").global("torch._tensor", "_rebuild_from_type_v2").mark();
  p.global("torch._utils", "_rebuild_tensor_v2").global("torch", "Tensor").mark();
  p.storage("FloatStorage", "0", 2).integer(1).int_tuple({1}).int_tuple({1}).boolean(false);
  p.ordered_dict().tuple().empty_dict().tuple().reduce();
  p.str("meta").global("torch._utils", "_rebuild_tensor_v2").mark();
  p.storage("FloatStorage", "0", 2).integer(0).int_tuple({2}).int_tuple({1}).boolean(false);
  p.ordered_dict().empty_dict().tuple().reduce();
  p.setitems();
  // state: {'_metadata': OrderedDict({'': {'version': 1}})}
  p.empty_dict().mark().str("_metadata").ordered_dict().mark().str("").empty_dict();
  p.mark().str("version").integer(1).setitems().setitems().setitems().op('b').stop();
  const auto ckpt = TorchCheckpoint::open(
      dir.write("pytorch_model.bin", checkpoint(p.bytes(), {{"0", floats({3, 4})}})));
  EXPECT_EQ(ckpt->tensor<float>("param").data()[1], 4.0f);
  EXPECT_EQ(ckpt->tensor<float>("typed").data()[0], 4.0f);
  EXPECT_EQ(ckpt->tensor<float>("meta").numel(), 2);
}

TEST(TorchCheckpoint, ReadsProtocol4Spellings) {
  TempDir dir;
  // FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, as pickle_protocol=4 writes them.
  Pickle p;
  p.proto(4).op(0x95).raw(std::string(8, '\0')).op('}').op(0x94).mark();
  p.op(0x8c).op(1).raw("w");
  p.op(0x8c).op(12).raw("torch._utils").op(0x8c).op(18).raw("_rebuild_tensor_v2").op(0x93);
  p.op(0x94).mark();
  p.mark().op(0x8c).op(7).raw("storage").op(0x8c).op(5).raw("torch").op(0x8c).op(12);
  p.raw("FloatStorage").op(0x93).op(0x8c).op(1).raw("0").op(0x8c).op(3).raw("cpu").integer(2);
  p.tuple().op('Q').integer(0).int_tuple({2}).int_tuple({1}).boolean(false).ordered_dict();
  p.tuple().reduce().setitems().stop();
  const auto ckpt = TorchCheckpoint::open(
      dir.write("pytorch_model.bin", checkpoint(p.bytes(), {{"0", floats({5, 6})}})));
  EXPECT_EQ(ckpt->tensor<float>("w").data()[1], 6.0f);
}

TEST(TorchCheckpoint, Zip64ExtraFieldsAndNoDescriptor) {
  TempDir dir;
  for (const bool extra : {false, true}) {
    ZipOptions o;
    o.zip64_extra = extra;
    o.descriptor = !extra;
    o.zip64_end = extra;
    const auto ckpt = TorchCheckpoint::open(dir.write(
        "pytorch_model.bin", checkpoint(one_tensor_pickle(), {{"0", floats({1, 2, 3, 4})}}, o)));
    EXPECT_EQ(ckpt->tensor<float>("w").data()[3], 4.0f);
  }
}

// ---- code execution attempts ------------------------------------------------------------------

// {'x': <module>.<name>(<argument>)}: would run `argument` if the global were resolved and called.
std::string calling(const std::string& module, const std::string& name, const std::string& arg) {
  Pickle p;
  p.proto().empty_dict().mark().str("x").global(module, name).str(arg).op(0x85).reduce();
  p.setitems().stop();
  return p.bytes();
}

TEST(TorchCheckpointHostile, NothingIsExecuted) {
  TempDir dir;
  const std::string pwned = dir.file("pwned");
  const std::string shell = "touch " + pwned;
  const std::string python = "open('" + pwned + "', 'w').write('x')";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {calling("os", "system", shell), "'os.system'"},
      {calling("posix", "system", shell), "'posix.system'"},
      {calling("builtins", "eval", python), "'builtins.eval'"},
      {calling("builtins", "exec", python), "'builtins.exec'"},
      {calling("__builtin__", "eval", python), "'__builtin__.eval'"},
      {calling("subprocess", "check_output", shell), "'subprocess.check_output'"},
      {calling("torch", "load", pwned), "'torch.load'"},
  };
  for (const auto& [pkl, culprit] : cases) {
    expect_rejected(checkpoint(pkl), {culprit, "not allowed", "data.pkl", "GLOBAL"});
    EXPECT_FALSE(fs::exists(pwned)) << culprit;
  }
  // The same through STACK_GLOBAL, after a valid tensor, and deep inside a tensor's arguments.
  Pickle sg;
  sg.proto(4).op('}').mark().op(0x8c).op(1).raw("x").op(0x8c).op(2).raw("os");
  sg.op(0x8c).op(6).raw("system").op(0x93).str(shell).op(0x85).reduce().setitems().stop();
  expect_rejected(checkpoint(sg.bytes()), {"'os.system'", "STACK_GLOBAL"});
  Pickle late;
  late.proto().empty_dict().mark().str("w").tensor("FloatStorage", "0", 4, 0, {2, 2}, {2, 1});
  late.str("x").global("os", "system").str(shell).op(0x85).reduce().setitems().stop();
  expect_rejected(checkpoint(late.bytes(), {{"0", floats({1, 2, 3, 4})}}), {"'os.system'"});
  Pickle inner;
  inner.proto().empty_dict().mark().str("w").global("torch._utils", "_rebuild_tensor_v2").mark();
  inner.global("os", "system").str(shell).op(0x85).reduce();
  expect_rejected(checkpoint(inner.bytes()), {"'os.system'"});
  // Old-style INST and OBJ opcodes name and call a class in one go.
  Pickle inst;
  inst.proto().mark().str(shell).op('i').raw("os\nsystem\n").stop();
  expect_rejected(checkpoint(inst.bytes()), {"INST", "unsupported pickle opcode"});
  Pickle obj;
  obj.proto().mark().global("os", "system").str(shell).op('o').stop();
  expect_rejected(checkpoint(obj.bytes()), {"'os.system'"});
  EXPECT_FALSE(fs::exists(pwned));
}

TEST(TorchCheckpointHostile, UnknownClassesAndCallables) {
  expect_rejected(checkpoint(calling("collections", "defaultdict", "x")),
                  {"'collections.defaultdict'", "not allowed"});
  expect_rejected(checkpoint(calling("numpy.core.multiarray", "_reconstruct", "x")),
                  {"'numpy.core.multiarray._reconstruct'"});
  expect_rejected(checkpoint(calling("torch._utils", "_rebuild_qtensor", "x")),
                  {"'torch._utils._rebuild_qtensor'"});
  // Allowed names used the wrong way.
  expect_rejected(checkpoint(calling("torch", "FloatStorage", "x")),
                  {"'torch.FloatStorage' cannot be called"});
  expect_rejected(checkpoint(calling("collections", "OrderedDict", "x")),
                  {"collections.OrderedDict called with 1 arguments"});
  Pickle build;
  build.proto().empty_dict().empty_dict().op('b').stop();
  expect_rejected(checkpoint(build.bytes()), {"BUILD on a dict"});
  // A persistent id that is not a storage.
  Pickle pid;
  pid.proto().empty_dict().mark().str("x").mark().str("module").str("x").tuple().op('Q');
  pid.setitems().stop();
  expect_rejected(checkpoint(pid.bytes()), {"persistent id", "BINPERSID"});
  // Tensor metadata (conjugate / negative bits) would change values: refused, not ignored.
  Pickle md;
  md.proto().empty_dict().mark().str("w").global("torch._utils", "_rebuild_tensor_v2").mark();
  md.storage("FloatStorage", "0", 4).integer(0).int_tuple({4}).int_tuple({1}).boolean(false);
  md.ordered_dict().empty_dict().mark().str("conj").boolean(true).setitems().tuple().reduce();
  md.setitems().stop();
  expect_rejected(checkpoint(md.bytes(), {{"0", floats({1, 2, 3, 4})}}), {"tensor metadata"});
}

TEST(TorchCheckpointHostile, UnknownOpcodes) {
  const std::vector<std::pair<unsigned char, std::string>> ops = {
      {'i', "0x69 (INST)"},       {'o', "0x6f (OBJ)"},      {0x81, "0x81 (NEWOBJ)"},
      {0x92, "0x92 (NEWOBJ_EX)"}, {0x82, "0x82 (EXT1)"},    {'P', "0x50 (PERSID)"},
      {'S', "0x53 (STRING)"},     {'2', "0x32 (DUP)"},      {0x97, "0x97 (NEXT_BUFFER)"},
      {0xff, "0xff (unknown)"},   {0x99, "0x99 (unknown)"}, {'d', "0x64 (DICT)"},
  };
  for (const auto& [op, name] : ops) {
    Pickle p;
    p.proto().empty_dict().op(op).stop();
    expect_rejected(checkpoint(p.bytes()), {"unsupported pickle opcode " + name, "at byte 3"});
  }
  Pickle p5;
  p5.proto(6).empty_dict().stop();
  expect_rejected(checkpoint(p5.bytes()), {"pickle protocol 6"});
}

TEST(TorchCheckpointHostile, TruncatedPickles) {
  const std::string full = one_tensor_pickle();
  for (size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    expect_rejected(checkpoint(full.substr(0, n), {{"0", floats({1, 2, 3, 4})}}), {"data.pkl"});
  }
  // Lengths that point past the end.
  Pickle big;
  big.proto().op('X').raw("\xff\xff\xff\x7f").raw("abc");
  expect_rejected(checkpoint(big.bytes()), {"truncated pickle", "BINUNICODE"});
  Pickle big8;
  big8.proto().op(0x8d).raw(std::string(7, '\xff') + "\x7f");
  expect_rejected(checkpoint(big8.bytes()), {"truncated pickle", "BINUNICODE8"});
  Pickle frame;
  frame.proto(4).op(0x95).raw(std::string(8, '\x7f'));
  expect_rejected(checkpoint(frame.bytes()), {"frame"});
  Pickle global;
  global.proto().raw("ctorch\nFloatStor");
  expect_rejected(checkpoint(global.bytes()), {"GLOBAL name has no end"});
}

TEST(TorchCheckpointHostile, StackAndMemoMisuse) {
  Pickle underflow;
  underflow.proto().op(0x87).stop();
  expect_rejected(checkpoint(underflow.bytes()), {"stack underflow", "TUPLE3"});
  Pickle fenced;  // items below a MARK are out of reach until it is popped
  fenced.proto().empty_dict().mark().op(0x85).stop();
  expect_rejected(checkpoint(fenced.bytes()), {"stack underflow", "TUPLE1"});
  Pickle get;
  get.proto().empty_dict().op('j').raw(std::string("\x10\x27\x00\x00", 4)).stop();
  expect_rejected(checkpoint(get.bytes()), {"memo entry 10000 was never stored", "LONG_BINGET"});
  Pickle nomark;
  nomark.proto().empty_dict().setitems().stop();
  expect_rejected(checkpoint(nomark.bytes()), {"no MARK"});
  Pickle odd;
  odd.proto().empty_dict().mark().str("a").setitems().stop();
  expect_rejected(checkpoint(odd.bytes()), {"odd number"});
  Pickle append;
  append.proto().empty_dict().integer(1).op('a').stop();
  expect_rejected(checkpoint(append.bytes()), {"APPEND on a dict"});
  // A dict placed inside itself, and a list modified after being stored elsewhere: cycles.
  Pickle self;
  self.proto().empty_dict().binput(0).str("me").binget(0).op('s').stop();
  expect_rejected(checkpoint(self.bytes()), {"inside itself"});
  Pickle cycle;
  cycle.proto().empty_list().binput(0).empty_list().binput(1).binget(0).op('a');  // L1 = [L0]
  cycle.binget(0).binget(1).op('a').stop();                                       // L0.append(L1)
  expect_rejected(checkpoint(cycle.bytes()), {"already stored inside another"});
  Pickle empty;
  empty.proto().stop();
  expect_rejected(checkpoint(empty.bytes()), {"stack underflow", "STOP"});
}

TEST(TorchCheckpointHostile, RecursionAndSizeBombs) {
  Pickle nested;  // ((((...),),),) 100000 deep
  nested.proto().empty_tuple();
  for (int i = 0; i < 100000; ++i) nested.op(0x85);
  nested.stop();
  expect_rejected(checkpoint(nested.bytes()), {"nested more than 32 levels", "TUPLE1"});
  Pickle lists;  // [[[[...]]]] via APPEND
  for (int i = 0; i < 100; ++i) lists.empty_list();
  for (int i = 0; i < 99; ++i) lists.op('a');
  lists.stop();
  expect_rejected(checkpoint(lists.bytes()), {"nested more than 32 levels", "APPEND"});
  Pickle marks;
  marks.proto();
  for (int i = 0; i < 100000; ++i) marks.mark();
  expect_rejected(checkpoint(marks.bytes()), {"MARKs are nested more than 32", "MARK"});
  Pickle laughs;  // a = (x, x); b = (a, a); ... shares memo entries but nests
  laughs.proto().str("lol").binput(0);
  for (int i = 0; i < 40; ++i) laughs.binget(0).op(0x86).binput(0);
  laughs.stop();
  expect_rejected(checkpoint(laughs.bytes()), {"nested more than 32 levels"});
  Pickle stack;
  stack.proto();
  for (size_t i = 0; i <= detail::pickle::kMaxStack; ++i) stack.none();
  expect_rejected(checkpoint(stack.bytes()), {"stack grows beyond", "NONE"});
  Pickle memo;  // LONG_BINPUT with far-apart indices must not allocate by index
  memo.proto().none();
  for (uint32_t i = 0; i < 4; ++i) {
    memo.op('r');
    std::string idx;
    put32(idx, 0xffffffffu - i * 0x10000000u);
    memo.raw(idx);
  }
  memo.op('j').raw("\xff\xff\xff\xff").stop();
  expect_rejected(checkpoint(memo.bytes()), {"holds None, not a dict"});
  Pickle longint;
  longint.proto().op(0x8a).op(9).raw(std::string(9, '\x01')).stop();
  expect_rejected(checkpoint(longint.bytes()), {"9 bytes does not fit in 64 bits", "LONG1"});
}

TEST(TorchCheckpointHostile, NotAStateDict) {
  Pickle list;
  list.proto().empty_list().stop();
  expect_rejected(checkpoint(list.bytes()), {"holds a list, not a dict of tensors"});
  Pickle integer;
  integer.proto().integer(42).stop();
  expect_rejected(checkpoint(integer.bytes()), {"holds an int, not a dict of tensors"});
  Pickle tensor;
  tensor.proto().tensor("FloatStorage", "0", 4, 0, {4}, {1}).stop();
  expect_rejected(checkpoint(tensor.bytes(), {{"0", floats({1, 2, 3, 4})}}),
                  {"holds a tensor, not a dict"});
  const std::string nested = state_dict({{"model", [](Pickle& p) { p.empty_dict(); }}});
  expect_rejected(checkpoint(nested), {"maps 'model' to a dict, not a tensor"});
  const std::string number = state_dict({{"epoch", [](Pickle& p) { p.integer(3); }}});
  expect_rejected(checkpoint(number), {"maps 'epoch' to an int"});
  Pickle key;
  key.proto().empty_dict().integer(1).tensor("FloatStorage", "0", 4, 0, {4}, {1}).op('s').stop();
  expect_rejected(checkpoint(key.bytes(), {{"0", floats({1, 2, 3, 4})}}), {"key that is an int"});
  Pickle utf8;
  utf8.proto().empty_dict().str("\xff\xfe").stop();
  expect_rejected(checkpoint(utf8.bytes()), {"not valid UTF-8", "BINUNICODE"});
}

TEST(TorchCheckpointHostile, StoragesOutOfRange) {
  const std::string four = floats({1, 2, 3, 4});
  auto with = [&](const Shape& size, const Shape& stride, int64_t offset, int64_t numel = 4) {
    return checkpoint(state_dict({{"w",
                                   [=](Pickle& p) {
                                     p.tensor("FloatStorage", "0", numel, offset, size, stride);
                                   }}}),
                      {{"0", four}});
  };
  expect_rejected(with({2, 3}, {3, 1}, 0),
                  {"tensor 'w'", "reaches beyond", "archive/data/0", "of 4 elements"});
  expect_rejected(with({4}, {1}, 1), {"tensor 'w'", "offset 1"});
  expect_rejected(with({2}, {4}, 0), {"stride [4]"});
  expect_rejected(with({1}, {1}, 4), {"reaches beyond"});
  expect_rejected(with({2, 2}, {int64_t(1) << 62, 1}, 0), {"reaches beyond"});
  expect_rejected(with({int64_t(1) << 40, int64_t(1) << 40}, {1, 1}, 0), {"overflows"});
  expect_rejected(with({4}, {1}, int64_t(1) << 62), {"reaches beyond"});
  expect_rejected(with({2}, {1, 1}, 0), {"differ in rank"});
  // The storage's declared size must match its record.
  expect_rejected(with({4}, {1}, 0, 5), {"should hold 5 F32 elements", "16 bytes"});
  expect_rejected(checkpoint(one_tensor_pickle()), {"no entry 'archive/data/0'"});
  // One storage described with two dtypes.
  const std::string two = state_dict({
      {"a", [](Pickle& p) { p.tensor("FloatStorage", "0", 4, 0, {4}, {1}); }},
      {"b", [](Pickle& p) { p.tensor("LongStorage", "0", 2, 0, {2}, {1}); }},
  });
  expect_rejected(checkpoint(two, {{"0", four}}), {"storage '0' is described twice"});
  // Negative sizes, offsets and strides do not exist in torch.
  Pickle neg;
  neg.proto().empty_dict().mark().str("w").global("torch._utils", "_rebuild_tensor_v2").mark();
  neg.storage("FloatStorage", "0", 4).integer(0).int_tuple({2}).int_tuple({-1}).boolean(false);
  neg.ordered_dict().tuple().reduce().setitems().stop();
  expect_rejected(checkpoint(neg.bytes(), {{"0", four}}), {"tensor stride holds an int"});
}

// ---- zip files that lie -------------------------------------------------------------------------

std::string good_archive() {
  return checkpoint(one_tensor_pickle(), {{"0", floats({1, 2, 3, 4})}});
}

TEST(TorchCheckpointZip, AcceptsTheGoodArchive) {
  TempDir dir;
  EXPECT_EQ(TorchCheckpoint::open(dir.write("a.bin", good_archive()))->tensor<float>("w").data()[2],
            3.0f);
}

TEST(TorchCheckpointZip, TruncatedArchives) {
  const std::string z = good_archive();
  for (size_t n = 0; n < z.size(); ++n) {
    SCOPED_TRACE(n);
    expect_rejected(z.substr(0, n), {""});
  }
  // Bytes appended after the end record (a comment that was not declared).
  expect_rejected(z + "junk", {"no end-of-central-directory record"});
}

TEST(TorchCheckpointZip, CentralDirectoryAndLocalHeadersMustAgree) {
  const std::string good = good_archive();
  const std::string pkl = "archive/data.pkl", storage = "archive/data/0";
  {  // central directory claims a bigger entry
    std::string z = good;
    const size_t c = central_of(z, storage);
    patch32(z, c + 20, 17);
    patch32(z, c + 24, 17);
    expect_rejected(z, {"entry 'archive/data/0'", "data descriptor"});
  }
  {  // compressed and uncompressed sizes differ for a stored entry
    std::string z = good;
    patch32(z, central_of(z, storage) + 20, 15);
    expect_rejected(z, {"entry 'archive/data/0'", "compressed size 15"});
  }
  {  // a huge size runs past the central directory
    std::string z = good;
    const size_t c = central_of(z, storage);
    patch32(z, c + 20, 0x7fffffff);
    patch32(z, c + 24, 0x7fffffff);
    expect_rejected(z, {"entry 'archive/data/0'", "run past the start of the central directory"});
  }
  {  // the local header offset points elsewhere
    std::string z = good;
    const size_t c = central_of(z, storage);
    patch32(z, c + 42, static_cast<uint32_t>(local_of(z, pkl) + 1));
    expect_rejected(z, {"entry 'archive/data/0'", "local header offset"});
  }
  {  // ... or at another entry's local header
    std::string z = good;
    patch32(z, central_of(z, storage) + 42, static_cast<uint32_t>(local_of(z, pkl)));
    expect_rejected(z, {"entry 'archive/data/0'", "local header names it 'archive/data.pkl'"});
  }
  {  // ... or beyond the file
    std::string z = good;
    patch32(z, central_of(z, storage) + 42, 0xfffffff0u);
    expect_rejected(z, {"local header offset 4294967280"});
  }
  {  // the local header gives a size (no data descriptor) that differs
    ZipOptions o;
    o.descriptor = false;
    std::string z = checkpoint(one_tensor_pickle(), {{"0", floats({1, 2, 3, 4})}}, o);
    patch32(z, local_of(z, storage) + 22, 8);
    expect_rejected(z, {"local header gives size 8 but the central directory 16"});
  }
  {  // method differs between the two
    std::string z = good;
    patch16(z, local_of(z, storage) + 8, 8);
    expect_rejected(z, {"disagree on its method or flags"});
  }
  {  // the central directory offset is wrong
    std::string z = good;
    const size_t end = z.size() - 22;
    patch32(z, end + 16, static_cast<uint32_t>(central_of(z, pkl) + 4));
    expect_rejected(z, {"disagree on the central directory offset"});
  }
  {  // entry count wrong in both end records
    std::string z = good;
    const size_t end = z.size() - 22, end64 = z.size() - 22 - 20 - 56;
    patch16(z, end + 8, 2);
    patch16(z, end + 10, 2);
    patch32(z, end64 + 24, 2);
    patch32(z, end64 + 32, 2);
    expect_rejected(z, {"holds", "bytes beyond its declared entries"});
  }
  {  // too many entries for the directory's size
    std::string z = good;
    const size_t end = z.size() - 22, end64 = z.size() - 22 - 20 - 56;
    patch16(z, end + 8, 0xffff);
    patch16(z, end + 10, 0xffff);
    patch32(z, end64 + 24, 100000);
    patch32(z, end64 + 32, 100000);
    expect_rejected(z, {"100000 entries cannot fit"});
  }
  {  // zip64 locator pointing nowhere
    std::string z = good;
    patch32(z, z.size() - 22 - 20 + 8, 3);
    expect_rejected(z, {"zip64 end-of-central-directory offset 3"});
  }
  {  // two entries with one name
    std::string z = zip({{"archive/data.pkl", one_tensor_pickle()},
                         {"archive/data/0", floats({1, 2, 3, 4})},
                         {"archive/data/0", floats({1, 2, 3, 4})},
                         {"archive/version", "3\n"}});
    expect_rejected(z, {"entry 'archive/data/0' appears twice"});
  }
  {  // overlapping entries: data/1's record points at a local header hidden in data/0's data
    const std::string payload = floats({1, 2, 3, 4}), name = "archive/data/1";
    std::string fake;
    put32(fake, 0x04034b50);
    put16(fake, 20);
    put16(fake, 0x0800);
    put16(fake, 0);
    put32(fake, 0);
    put32(fake, crc32(payload));
    put32(fake, 16);
    put32(fake, 16);
    put16(fake, static_cast<uint16_t>(name.size()));
    put16(fake, 0);
    fake += name + payload;
    ZipOptions o;
    o.descriptor = false;
    std::string z = zip({{"archive/data.pkl", one_tensor_pickle()},
                         {"archive/data/0", fake},
                         {name, payload},
                         {"archive/version", "3\n"}},
                        o);
    const size_t hidden = local_of(z, name);  // the first match is the one inside data/0
    ASSERT_LT(hidden, local_of(z, "archive/version"));
    ASSERT_GT(hidden, local_of(z, "archive/data/0"));
    patch32(z, central_of(z, name) + 42, static_cast<uint32_t>(hidden));
    expect_rejected(z, {"entries overlap"});
  }
}

TEST(TorchCheckpointZip, CompressedOrEncryptedEntries) {
  ZipOptions o;
  o.method = 8;
  o.method_entry = "archive/data/0";
  expect_rejected(checkpoint(one_tensor_pickle(), {{"0", floats({1, 2, 3, 4})}}, o),
                  {"entry 'archive/data/0' is compressed (method 8, deflate)"});
  o.method_entry = "archive/data.pkl";
  o.method = 93;
  expect_rejected(checkpoint(one_tensor_pickle(), {{"0", floats({1, 2, 3, 4})}}, o),
                  {"entry 'archive/data.pkl' is compressed (method 93, zstd)"});
  ZipOptions enc;
  enc.extra_flags = 1;
  expect_rejected(checkpoint(one_tensor_pickle(), {{"0", floats({1, 2, 3, 4})}}, enc),
                  {"is encrypted"});
}

TEST(TorchCheckpointZip, ArchiveLayout) {
  const std::string pkl = one_tensor_pickle(), data = floats({1, 2, 3, 4});
  expect_rejected(zip({{"data.pkl", pkl}, {"data/0", data}, {"version", "3\n"}}),
                  {"'data.pkl' is not inside an archive folder"});
  expect_rejected(zip({{"a/data/0", data}, {"a/version", "3\n"}}), {"no 'a/data.pkl' record"});
  expect_rejected(zip({{"a/data.pkl", pkl}, {"a/data/0", data}}), {"no 'a/version' record"});
  expect_rejected(zip({{"a/data.pkl", pkl}, {"a/data/0", data}, {"a/version", "99\n"}}),
                  {"unsupported checkpoint format version '99'"});
  expect_rejected(
      zip({{"a/data.pkl", pkl}, {"a/data/0", data}, {"a/version", "3\n"}, {"a/byteorder", "big"}}),
      {"big-endian"});
  // torch >= 2.1 adds byteorder and a few dot-files; all fine.
  TempDir dir;
  const auto ckpt =
      TorchCheckpoint::open(dir.write("x.bin", zip({{"a/data.pkl", pkl},
                                                    {"a/byteorder", "little"},
                                                    {"a/data/0", data},
                                                    {"a/version", "3\n"},
                                                    {"a/.data/serialization_id", "1234"}})));
  EXPECT_EQ(ckpt->tensor<float>("w").data()[0], 1.0f);
  expect_rejected(zip({}), {"not a PyTorch checkpoint"});
}

TEST(TorchCheckpointZip, LegacyAndForeignFiles) {
  // torch.save before 1.6: a pickle of the magic number 0x1950a86a20f9469cfc6c, then more.
  std::string legacy("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  expect_rejected(legacy + std::string(100, '\0'), {"legacy PyTorch checkpoint", "PyTorch >= 1.6"});
  std::string tar(1024, '\0');
  std::memcpy(&tar[257], "ustar", 5);
  expect_rejected(tar, {"legacy PyTorch checkpoint"});
  expect_rejected("", {"not a PyTorch checkpoint"});
  expect_rejected("hello, this is not a checkpoint at all", {"not a PyTorch checkpoint"});
  // A safetensors file is not mistaken for anything else by WeightSource::from_file.
  TempDir dir;
  write_safetensors(dir.file("x.safetensors"),
                    {to_write("t", Tensor<float>::from_vector({2}, {1, 2}))});
  EXPECT_EQ(WeightSource::from_file(dir.file("x.safetensors"))->tensor<float>("t", {2}).data()[1],
            2.0f);
  EXPECT_EQ(WeightSource::from_file(dir.write("y.bin", good_archive()))
                ->tensor<float>("w", {2, 2})
                .data()[1],
            2.0f);
  EXPECT_THROW(WeightSource::from_file(dir.write("z.bin", legacy)), FormatError);
}

// ---- WeightSource: transformers' file preference ------------------------------------------------

TEST(TorchCheckpointSource, PrefersSafetensorsThenBinThenShardedBin) {
  TempDir dir;
  auto index = [](const std::string& shard) {
    return R"({"metadata": {}, "weight_map": {"w": ")" + shard + R"("}})";
  };
  dir.write("pytorch_model-00001-of-00001.bin", good_archive());
  dir.write("pytorch_model.bin.index.json", index("pytorch_model-00001-of-00001.bin"));
  EXPECT_NE(WeightSource::from_dir(dir.str())->describe().find("pytorch_model-00001-of-00001.bin"),
            std::string::npos);
  dir.write("pytorch_model.bin", good_archive());
  EXPECT_NE(WeightSource::from_dir(dir.str())->path_of("w").find("/pytorch_model.bin"),
            std::string::npos);
  write_safetensors(dir.file("model-00001-of-00001.safetensors"),
                    {to_write("w", Tensor<float>::from_vector({2, 2}, {9, 9, 9, 9}))});
  dir.write("model.safetensors.index.json", index("model-00001-of-00001.safetensors"));
  auto src = WeightSource::from_dir(dir.str());
  EXPECT_EQ(src->tensor<float>("w", {2, 2}).data()[0], 9.0f);
  write_safetensors(dir.file("model.safetensors"),
                    {to_write("w", Tensor<float>::from_vector({2, 2}, {8, 8, 8, 8}))});
  src = WeightSource::from_dir(dir.str());
  EXPECT_EQ(src->tensor<float>("w", {2, 2}).data()[0], 8.0f);
  EXPECT_NE(src->file_of("w"), nullptr);
}

TEST(TorchCheckpointSource, ErrorsNameTheFileAndTensor) {
  TempDir dir;
  const std::string bin = dir.write("pytorch_model.bin", good_archive());
  const auto src = WeightSource::from_dir(dir.str());
  EXPECT_EQ(src->file_of("w"), nullptr);  // not a safetensors file
  try {
    src->tensor<float>("w", {4});
    FAIL();
  } catch (const WeightError& e) {
    EXPECT_NE(std::string(e.what()).find(bin), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tensor w"), std::string::npos) << e.what();
  }
  try {
    src->tensor<float>("missing", {4});
    FAIL();
  } catch (const WeightError& e) {
    EXPECT_NE(std::string(e.what()).find(bin), std::string::npos) << e.what();
  }
  // A sharded index that puts a tensor in the wrong shard.
  TempDir sharded;
  sharded.write("a.bin", good_archive());
  sharded.write("pytorch_model.bin.index.json", R"({"weight_map": {"v": "a.bin"}})");
  EXPECT_THROW(WeightSource::from_dir(sharded.str()), FormatError);
  sharded.write("pytorch_model.bin.index.json", R"({"weight_map": {"w": "../a.bin"}})");
  EXPECT_THROW(WeightSource::from_dir(sharded.str()), FormatError);
  // A hostile .bin reached through from_dir is rejected the same way.
  TempDir hostile;
  hostile.write("pytorch_model.bin", checkpoint(calling("os", "system", "true")));
  EXPECT_THROW(WeightSource::from_dir(hostile.str()), FormatError);
  TempDir none;
  try {
    WeightSource::from_dir(none.str());
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("pytorch_model.bin.index.json"), std::string::npos);
  }
}

// The object and memo limits, checked on the unpickler directly with small limits (a bomb at the
// real limits would take hundreds of megabytes to build).
TEST(TorchCheckpointHostile, ObjectAndMemoCountsAreBounded) {
  detail::pickle::Limits limits;
  limits.objects = 1000;
  limits.memo = 100;
  Pickle objects;  // one list holding many empty lists: a small stack, many objects
  objects.proto().empty_list();
  for (int i = 0; i < 2000; ++i) objects.empty_list().op('a');
  objects.stop();
  try {
    detail::pickle::Unpickler(reinterpret_cast<const unsigned char*>(objects.bytes().data()),
                              objects.bytes().size(), "objects.pkl", limits)
        .load();
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("objects.pkl: the pickle builds more than 1000 objects"),
              std::string::npos)
        << e.what();
  }
  Pickle memo;
  memo.proto().none();
  for (int i = 0; i < 200; ++i) memo.op(0x94);  // MEMOIZE
  memo.stop();
  try {
    detail::pickle::Unpickler(reinterpret_cast<const unsigned char*>(memo.bytes().data()),
                              memo.bytes().size(), "memo.pkl", limits)
        .load();
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("memo grows beyond 100 entries"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ved
