// DecoderState's bookkeeping: rows reordered by slot index (duplicates copied, survivors kept in
// place), cross-attention keys/values shared per image, caches reserved once, and a generation
// stopped from its callback leaving the model as it was.

#include <gtest/gtest.h>

#include <type_traits>

#include "../test_util.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

constexpr int64_t kWidth = 4;

// Writes `n` positions into every row of layer 0: row r, position t, element e holds
// 1000 * tag[r] + 10 * t + e in the keys and its negation in the values.
void append(DecoderState& state, const std::vector<int64_t>& tag, int64_t n) {
  DecoderState::Layer layer = state.layer(0);
  layer.prepare_append(n, kWidth);
  for (int64_t r = 0; r < state.batch_size(); ++r)
    for (int64_t t = state.length(); t < state.length() + n; ++t)
      for (int64_t e = 0; e < kWidth; ++e) {
        const float x = static_cast<float>(1000 * tag[static_cast<size_t>(r)] + 10 * t + e);
        layer.self_keys(r)[t * kWidth + e] = x;
        layer.self_values(r)[t * kWidth + e] = -x;
      }
  state.advance(n);
}

// Row r holds, at every position t < length, the values append() wrote for tag[r] at t.
void expect_rows(DecoderState& state, const std::vector<int64_t>& tag) {
  DecoderState::Layer layer = state.layer(0);
  ASSERT_EQ(state.batch_size(), static_cast<int64_t>(tag.size()));
  for (int64_t r = 0; r < state.batch_size(); ++r)
    for (int64_t t = 0; t < state.length(); ++t)
      for (int64_t e = 0; e < kWidth; ++e) {
        const float x = static_cast<float>(1000 * tag[static_cast<size_t>(r)] + 10 * t + e);
        ASSERT_EQ(layer.self_keys(r)[t * kWidth + e], x) << "row " << r << " position " << t;
        ASSERT_EQ(layer.self_values(r)[t * kWidth + e], -x) << "row " << r << " position " << t;
      }
}

// A copy would share the caches' buffers with the original: moves only.
static_assert(!std::is_copy_constructible_v<DecoderState> &&
              !std::is_copy_assignable_v<DecoderState>);
static_assert(std::is_move_constructible_v<DecoderState> &&
              std::is_move_assignable_v<DecoderState>);

TEST(DecoderState, AMovedStateKeepsItsRowsAndCaches) {
  DecoderState state(2, 1);
  append(state, {3, 5}, 2);
  DecoderState moved = std::move(state);
  EXPECT_EQ(moved.batch_size(), 2);
  EXPECT_EQ(moved.length(), 2);
  expect_rows(moved, {3, 5});
}

TEST(DecoderState, ReorderContinuesEachRowFromItsSource) {
  DecoderState state(/*batch_size=*/3, /*num_layers=*/1);
  append(state, {0, 1, 2}, 2);
  // Row 1 is dropped, row 2 duplicated, and the count grows to 4.
  state.reorder({2, 0, 2, 0});
  expect_rows(state, {2, 0, 2, 0});
  // Duplicates are independent copies: new positions differ per row and the history stays.
  append(state, {5, 6, 7, 8}, 1);
  DecoderState::Layer layer = state.layer(0);
  EXPECT_EQ(layer.self_keys(0)[0], 2000.0f);           // position 0 from row 2
  EXPECT_EQ(layer.self_keys(2)[0], 2000.0f);           // the copy of row 2
  EXPECT_EQ(layer.self_keys(0)[2 * kWidth], 5020.0f);  // position 2, this row's own
  EXPECT_EQ(layer.self_keys(2)[2 * kWidth], 7020.0f);  // not overwritten by row 0's
  EXPECT_EQ(layer.self_values(3)[2 * kWidth + 1], -8021.0f);
}

TEST(DecoderState, ASurvivingRowKeepsItsBufferAndOnlyDuplicatesAreCopied) {
  DecoderState state(2, 1);
  state.reserve(8);
  append(state, {0, 1}, 3);
  const float* row0 = state.layer(0).self_keys(0);
  const float* row1 = state.layer(0).self_keys(1);
  state.reorder({1, 0});  // a permutation: no copy, the buffers swap owners
  EXPECT_EQ(state.layer(0).self_keys(0), row1);
  EXPECT_EQ(state.layer(0).self_keys(1), row0);
  state.reorder({0, 0});  // row 1 is dropped: its buffer receives the copy of row 0
  EXPECT_EQ(state.layer(0).self_keys(0), row1);
  EXPECT_EQ(state.layer(0).self_keys(1), row0);
  expect_rows(state, {1, 1});
}

TEST(DecoderState, ReservedCapacityIsNeverReallocatedAndGrowingKeepsTheHistory) {
  DecoderState state(1, 1);
  state.reserve(6);
  append(state, {3}, 1);
  const float* buffer = state.layer(0).self_keys(0);
  for (int i = 0; i < 5; ++i) append(state, {3}, 1);  // up to the reserved 6 positions
  EXPECT_EQ(state.layer(0).self_keys(0), buffer);
  append(state, {3}, 4);  // beyond: the cache grows and keeps what it held
  EXPECT_EQ(state.length(), 10);
  expect_rows(state, {3});
}

TEST(DecoderState, RowsShareTheirImagesCrossAttentionKeysAndValues) {
  DecoderState state(2, 1);
  Tensor<float> k({2, 3, kWidth}), v({2, 3, kWidth});
  for (int64_t i = 0; i < k.numel(); ++i) {
    k.data()[i] = static_cast<float>(i);
    v.data()[i] = static_cast<float>(-i);
  }
  state.layer(0).set_cross(k, v);
  state.reorder({0, 0, 0, 1, 1, 1});  // three beams per image
  DecoderState::Layer layer = state.layer(0);
  EXPECT_EQ(layer.cross_length(), 3);
  for (int64_t r = 0; r < 6; ++r) {
    const int64_t image = r / 3;
    // The very same memory as the image's block: nothing was copied.
    EXPECT_EQ(layer.cross_keys(r), k.data() + image * 3 * kWidth) << "row " << r;
    EXPECT_EQ(layer.cross_values(r), v.data() + image * 3 * kWidth) << "row " << r;
  }
}

TEST(DecoderState, BadArgumentsAreErrors) {
  DecoderState state(2, 1);
  const std::string range = test::expect_throw_message<InvalidArgument>([&] {
    state.reorder({0, 2});
  });
  EXPECT_NE(range.find("row 2 out of range [0, 2)"), std::string::npos) << range;
  EXPECT_THROW(state.layer(0).cross_length(), InvalidArgument);  // never set
  EXPECT_THROW(
      state.layer(0).set_cross(Tensor<float>({3, 2, kWidth}), Tensor<float>({3, 2, kWidth})),
      InvalidArgument);  // 3 blocks for 2 images
  append(state, {0, 1}, 1);
  EXPECT_THROW(state.layer(0).prepare_append(1, kWidth + 1), InvalidArgument);
}

// generate() with a callback that stops it, then without: the second call gives transformers'
// tokens, so the stopped call left nothing behind in the (immutable) model.
TEST(DecoderState, GenerationStoppedFromTheCallbackLeavesTheModelUsable) {
  const std::string dir = test::fixture("models/vit-gpt2");
  const auto model = VisionEncoderDecoderModel::from_pretrained(dir);
  const auto pixels = SafetensorsFile::open(dir + "/expected.safetensors")
                          ->tensor<float>("pixel_values")
                          .slice(0, 1)
                          .clone();
  const auto meta = detail::read_json_file(dir + "/expected.json");
  std::vector<int64_t> expected;
  for (const auto& c : meta["generate"])
    if (c["name"] == "greedy_img0") expected = c["sequences"][0].get<std::vector<int64_t>>();
  ASSERT_FALSE(expected.empty());

  GenerationConfig g = model.generation_config();
  g.max_new_tokens = 12;
  const auto stopped = model.generate(
      pixels, g, {}, [](int64_t step, const std::vector<int64_t>&) { return step < 2; });
  ASSERT_EQ(stopped.sequences[0].size(), 4u);  // start token + 3
  EXPECT_TRUE(
      std::equal(stopped.sequences[0].begin(), stopped.sequences[0].end(), expected.begin()));
  EXPECT_EQ(model.generate(pixels, g).sequences[0], expected);
}

}  // namespace
}  // namespace ved
