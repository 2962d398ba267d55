// The safetensors reader against well-formed, truncated and hostile files.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "../test_util.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/nn/matmul.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  test::write_file(path, bytes);
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file with the given header text and `data_bytes` bytes of data after it.
std::string make_file(const std::string& header, size_t data_bytes) {
  return le64(header.size()) + header + std::string(data_bytes, '\x01');
}

template <typename E>
void expect_error(const std::string& path, const std::string& needle) {
  try {
    SafetensorsFile::open(path);
    FAIL() << "expected an error mentioning '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos)
        << "message does not name the file: " << e.what();
  }
}

TEST(Safetensors, ReadsFixtureTensors) {
  auto f = SafetensorsFile::open(test::fixture("models/vit-gpt2/expected.safetensors"));
  const Tensor<float> px = f->tensor<float>("pixel_values");
  EXPECT_EQ(px.shape(), (Shape{2, 3, 32, 32}));
  const Tensor<int64_t> ids = f->tensor<int64_t>("decoder_input_ids");
  EXPECT_EQ(ids.shape(), (Shape{2, 6}));
  EXPECT_EQ(ids.data()[0], 198);  // starts with decoder_start_token_id (expected.json)
  EXPECT_THROW(f->tensor<float>("decoder_input_ids"), WeightError);
  EXPECT_THROW(f->tensor<float>("nope"), WeightError);
}

TEST(Safetensors, RoundTripsWrittenTensors) {
  TempDir dir;
  Tensor<float> a = Tensor<float>::from_vector({2, 3}, {1, -2, 3.5f, 0, 1e-8f, -1e30f});
  Tensor<int64_t> b = Tensor<int64_t>::from_vector({3}, {1, -1, int64_t(1) << 40});
  write_safetensors(dir.file("x.safetensors"), {to_write("a", a), to_write("b", b)},
                    {{"format", "pt"}});
  auto f = SafetensorsFile::open(dir.file("x.safetensors"));
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const Tensor<float> a2 = f->tensor<float>("a");
  EXPECT_EQ(a2.shape(), a.shape());
  EXPECT_EQ(std::vector<float>(a2.begin(), a2.end()), std::vector<float>(a.begin(), a.end()));
  const Tensor<int64_t> b2 = f->tensor<int64_t>("b");
  EXPECT_EQ(std::vector<int64_t>(b2.begin(), b2.end()), std::vector<int64_t>(b.begin(), b.end()));
}

TEST(Safetensors, ConvertsF16AndBF16) {
  TempDir dir;
  // F16: 1.0 = 0x3c00, -2.0 = 0xc000, smallest subnormal 0x0001 = 2^-24, inf 0x7c00.
  // BF16: 1.0 = 0x3f80, -0.5 = 0xbf00.
  const std::string f16("\x00\x3c\x00\xc0\x01\x00\x00\x7c", 8), bf16("\x80\x3f\x00\xbf", 4);
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})";
  write_bytes(dir.file("h.safetensors"), le64(header.size()) + header + f16 + bf16);
  auto f = SafetensorsFile::open(dir.file("h.safetensors"));
  const Tensor<float> h = f->tensor<float>("h");
  EXPECT_EQ(h.data()[0], 1.0f);
  EXPECT_EQ(h.data()[1], -2.0f);
  EXPECT_EQ(h.data()[2], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(h.data()[3]));
  const Tensor<float> b = f->tensor<float>("b");
  EXPECT_EQ(b.data()[0], 1.0f);
  EXPECT_EQ(b.data()[1], -0.5f);
}

// Whether the page holding p is mapped into this process (bit 63 of its /proc/self/pagemap entry).
bool page_present(const void* p) {
  const int fd = ::open("/proc/self/pagemap", O_RDONLY);
  EXPECT_GE(fd, 0) << "cannot open /proc/self/pagemap";
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uint64_t entry = 0;
  const auto at = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / page * sizeof entry);
  EXPECT_EQ(::pread(fd, &entry, sizeof entry, at), static_cast<ssize_t>(sizeof entry))
      << "cannot read /proc/self/pagemap";
  ::close(fd);
  return entry >> 63;
}

// GPT-2's Conv1D weights are copied into column blocks; the pages of the checkpoint they were
// read from go back, yet still read as the file's bytes. A tensor not in a mapping keeps its own.
TEST(Safetensors, TransposedWeightCopyGivesBackItsMappedPages) {
  TempDir dir;
  const int64_t K = 64, N = 5000;  // 1.2 MiB: over detail::kMinAliasedBytes, so read in place
  Tensor<float> w({K, N});
  for (int64_t i = 0; i < K * N; ++i) w.data()[i] = static_cast<float>(i % 977) * 0.25f - 3.0f;
  const std::vector<float> values(w.begin(), w.end());
  write_safetensors(dir.file("conv1d.safetensors"), {to_write("w", w)});
  auto file = SafetensorsFile::open(dir.file("conv1d.safetensors"));
  const Tensor<float> mapped = file->tensor<float>("w");
  ASSERT_EQ(std::vector<float>(mapped.begin(), mapped.end()), values);  // every page faulted in
  const float* middle = mapped.data() + K * N / 2;
  ASSERT_TRUE(page_present(middle));

  const nn::WeightMatrix m(mapped, /*transposed=*/true);
  EXPECT_FALSE(page_present(middle));
  EXPECT_EQ(std::vector<float>(mapped.begin(), mapped.end()), values);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n : {int64_t{0}, int64_t{63}, int64_t{64}, N - 1}) {
    m.f32_row(n, row.data());
    for (int64_t k = 0; k < K; ++k) ASSERT_EQ(row[k], values[k * N + n]) << n << ", " << k;
  }

  const nn::WeightMatrix from_heap(w, /*transposed=*/true);
  EXPECT_EQ(std::vector<float>(w.begin(), w.end()), values);
  EXPECT_TRUE(page_present(w.data() + K * N / 2));
}

TEST(SafetensorsBadInput, MissingFile) {
  TempDir dir;
  EXPECT_THROW(SafetensorsFile::open(dir.file("absent.safetensors")), IoError);
  EXPECT_THROW(SafetensorsFile::open(dir.path().string()), IoError);  // a directory
}

TEST(SafetensorsBadInput, TruncatedBeforeHeaderLength) {
  TempDir dir;
  write_bytes(dir.file("t.safetensors"), "\x10\x00\x00");
  expect_error<FormatError>(dir.file("t.safetensors"), "truncated");
  write_bytes(dir.file("e.safetensors"), "");
  expect_error<FormatError>(dir.file("e.safetensors"), "truncated");
}

TEST(SafetensorsBadInput, HeaderLengthBeyondFile) {
  TempDir dir;
  write_bytes(dir.file("h.safetensors"), le64(1000) + "{}");
  expect_error<FormatError>(dir.file("h.safetensors"), "runs past the end");
  write_bytes(dir.file("huge.safetensors"), le64(~uint64_t(0)) + "{}");
  expect_error<FormatError>(dir.file("huge.safetensors"), "exceeds");
}

TEST(SafetensorsBadInput, TruncatedData) {
  TempDir dir;
  // A real file cut in the middle of its data buffer.
  const std::string bytes = test::read_file(test::fixture("models/vit-gpt2/model.safetensors"));
  write_bytes(dir.file("cut.safetensors"), bytes.substr(0, bytes.size() / 2));
  expect_error<FormatError>(dir.file("cut.safetensors"), "outside the data buffer");
}

TEST(SafetensorsBadInput, MalformedHeaderJson) {
  TempDir dir;
  write_bytes(dir.file("j.safetensors"), make_file(R"({"a": {"dtype": "F32", )", 0));
  expect_error<FormatError>(dir.file("j.safetensors"), "malformed JSON");
  write_bytes(dir.file("arr.safetensors"), make_file("[1,2]", 0));
  expect_error<FormatError>(dir.file("arr.safetensors"), "not a JSON object");
}

TEST(SafetensorsBadInput, OffsetsOutsideData) {
  TempDir dir;
  write_bytes(dir.file("o.safetensors"),
              make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16));
  expect_error<FormatError>(dir.file("o.safetensors"), "'a'");
  write_bytes(dir.file("r.safetensors"),
              make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 16));
  expect_error<FormatError>(dir.file("r.safetensors"), "outside the data buffer");
  write_bytes(dir.file("n.safetensors"),
              make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 16));
  expect_error<FormatError>(dir.file("n.safetensors"), "non-negative");
}

TEST(SafetensorsBadInput, OverlappingTensors) {
  TempDir dir;
  write_bytes(
      dir.file("ov.safetensors"),
      make_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          12));
  expect_error<FormatError>(dir.file("ov.safetensors"), "overlap");
}

TEST(SafetensorsBadInput, ShapeTimesDtypeMismatch) {
  TempDir dir;
  write_bytes(dir.file("s.safetensors"),
              make_file(R"({"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}})", 16));
  expect_error<FormatError>(dir.file("s.safetensors"), "needs 24 bytes");
  // A shape whose element count overflows 64 bits must not wrap around to a small size.
  write_bytes(
      dir.file("big.safetensors"),
      make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})",
                0));
  expect_error<FormatError>(dir.file("big.safetensors"), "'w'");
}

TEST(SafetensorsBadInput, UnknownAndUnsupportedDtypes) {
  TempDir dir;
  write_bytes(dir.file("u.safetensors"),
              make_file(R"({"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,2]}})", 2));
  expect_error<FormatError>(dir.file("u.safetensors"), "unknown dtype 'Q4_K'");
  // BOOL is a valid safetensors dtype, but no weight can be read from it.
  write_bytes(dir.file("b.safetensors"),
              make_file(R"({"w":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", 2));
  auto f = SafetensorsFile::open(dir.file("b.safetensors"));
  try {
    f->tensor<float>("w");
    FAIL() << "expected WeightError";
  } catch (const WeightError& e) {
    EXPECT_NE(std::string(e.what()).find("dtype BOOL"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsBadInput, WrongFieldTypes) {
  TempDir dir;
  write_bytes(dir.file("a.safetensors"),
              make_file(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", 8));
  expect_error<FormatError>(dir.file("a.safetensors"), "dtype");
  write_bytes(dir.file("b.safetensors"),
              make_file(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8));
  expect_error<FormatError>(dir.file("b.safetensors"), "shape");
  write_bytes(dir.file("c.safetensors"),
              make_file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8));
  expect_error<FormatError>(dir.file("c.safetensors"), "shape");
  write_bytes(dir.file("d.safetensors"),
              make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8));
  expect_error<FormatError>(dir.file("d.safetensors"), "data_offsets");
  write_bytes(dir.file("e.safetensors"), make_file(R"({"__metadata__":{"format":1}})", 0));
  expect_error<FormatError>(dir.file("e.safetensors"), "__metadata__");
}

TEST(ShardedCheckpoint, ReadsIndexAndRejectsEscapingShards) {
  TempDir dir;
  Tensor<float> a = Tensor<float>::from_vector({2}, {1, 2}),
                b = Tensor<float>::from_vector({1}, {3});
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {to_write("a", a)});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), {to_write("b", b)});
  write_bytes(
      dir.file("model.safetensors.index.json"),
      R"({"metadata":{"total_size":12},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
  auto src = WeightSource::from_dir(dir.path().string());
  const WeightLoader w(src);
  EXPECT_EQ(w.get("b", {1}).data()[0], 3.0f);
  EXPECT_EQ(w.get("a", {2}).data()[1], 2.0f);

  write_bytes(dir.file("model.safetensors.index.json"),
              R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})");
  EXPECT_THROW(WeightSource::from_dir(dir.path().string()), FormatError);
  write_bytes(dir.file("model.safetensors.index.json"),
              R"({"weight_map":{"a":"model-00002-of-00002.safetensors"}})");
  EXPECT_THROW(WeightSource::from_dir(dir.path().string()), FormatError);  // the shard lacks 'a'
  write_bytes(dir.file("model.safetensors.index.json"),
              R"({"weight_map":{"a":"missing.safetensors"}})");
  EXPECT_THROW(WeightSource::from_dir(dir.path().string()), IoError);
}

}  // namespace
}  // namespace ved

namespace ved {
namespace {

TEST(Tensor, ViewsShareStorageAndStridesFollowShape) {
  Tensor<float> t = Tensor<float>::from_vector({2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  EXPECT_EQ(t.strides(), (Shape{6, 2, 1}));
  Tensor<float> row = t[1];
  EXPECT_EQ(row.shape(), (Shape{3, 2}));
  EXPECT_EQ(row({2, 1}), 11.0f);
  row({0, 0}) = -1.0f;  // a view, not a copy
  EXPECT_EQ(t({1, 0, 0}), -1.0f);
  EXPECT_EQ(t.reshape({-1, 4}).shape(), (Shape{3, 4}));
  EXPECT_THROW(t.reshape({5, -1}), InvalidArgument);
  EXPECT_THROW(t.slice(1, 3), InvalidArgument);
  EXPECT_THROW(t({2, 0, 0}), InvalidArgument);
  EXPECT_EQ(t.matrix().rows(), 6);
  Tensor<float> c = t.clone();
  c({0, 0, 0}) = 42.0f;
  EXPECT_EQ(t({0, 0, 0}), 0.0f);
}

}  // namespace
}  // namespace ved
