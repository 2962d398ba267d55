// DecoderState's bookkeeping: rows reordered by slot index (duplicates copied, survivors kept in
// place), cross-attention keys/values shared per image, caches reserved once, and a generation
// stopped from its callback leaving the model as it was.

#include <gtest/gtest.h>

#include <type_traits>

#include "../test_util.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

constexpr int64_t kHeads = 2, kHeadDim = 2, kWidth = kHeads * kHeadDim;

// Where element e (of kWidth) of position t lies in a row's self-attention buffer: head by head.
int64_t at(const DecoderState::Layer& layer, int64_t t, int64_t e) {
  return e / kHeadDim * layer.head_stride() + t * kHeadDim + e % kHeadDim;
}

// Writes `n` positions into every row of layer 0: row r, position t, element e holds
// 1000 * tag[r] + 10 * t + e in the keys and its negation in the values.
void append(DecoderState& state, const std::vector<int64_t>& tag, int64_t n) {
  DecoderState::Layer layer = state.layer(0);
  layer.prepare_append(n, kHeads, kHeadDim);
  for (int64_t r = 0; r < state.batch_size(); ++r)
    for (int64_t t = state.length(); t < state.length() + n; ++t)
      for (int64_t e = 0; e < kWidth; ++e) {
        const float x = static_cast<float>(1000 * tag[static_cast<size_t>(r)] + 10 * t + e);
        layer.self_keys(r)[at(layer, t, e)] = x;
        layer.self_values(r)[at(layer, t, e)] = -x;
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
        ASSERT_EQ(layer.self_keys(r)[at(layer, t, e)], x) << "row " << r << " position " << t;
        ASSERT_EQ(layer.self_values(r)[at(layer, t, e)], -x) << "row " << r << " position " << t;
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
  EXPECT_EQ(layer.self_keys(0)[at(layer, 0, 0)], 2000.0f);     // position 0 from row 2
  EXPECT_EQ(layer.self_keys(2)[at(layer, 0, 0)], 2000.0f);     // the copy of row 2
  EXPECT_EQ(layer.self_keys(0)[at(layer, 2, 0)], 5020.0f);     // position 2, this row's own
  EXPECT_EQ(layer.self_keys(2)[at(layer, 2, 0)], 7020.0f);     // not overwritten by row 0's
  EXPECT_EQ(layer.self_values(3)[at(layer, 2, 3)], -8023.0f);  // the second head
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
  EXPECT_EQ(state.layer(0).head_stride(), 6 * kHeadDim);
  append(state, {3}, 4);  // beyond: the cache grows and keeps what it held
  EXPECT_EQ(state.length(), 10);
  expect_rows(state, {3});
}

// A long reservation is not taken up front (a buffer laid out head by head is touched at every
// head's start): the caches start at 128 positions and double, up to the reserved length, each
// head's history moving with them.
TEST(DecoderState, CachesDoubleUpToTheReservedLength) {
  DecoderState state(2, 1);
  state.reserve(300);
  const auto positions = [&] { return state.layer(0).head_stride() / kHeadDim; };
  append(state, {1, 2}, 1);
  EXPECT_EQ(positions(), 128);
  append(state, {1, 2}, 127);
  EXPECT_EQ(positions(), 128);
  append(state, {1, 2}, 1);
  EXPECT_EQ(positions(), 256);
  expect_rows(state, {1, 2});
  append(state, {1, 2}, 128);
  EXPECT_EQ(positions(), 300);  // not 512
  append(state, {1, 2}, 44);
  EXPECT_EQ(positions(), 600);  // past the reservation: doubling again
  expect_rows(state, {1, 2});
}

// Kept head by head: image i's element e of encoder position t at
// [e / kHeadDim * cross_head_stride() + t * kHeadDim + e % kHeadDim] from the image's block.
TEST(DecoderState, RowsShareTheirImagesCrossAttentionKeysAndValues) {
  DecoderState state(2, 1);
  Tensor<float> k({2, 3, kWidth}), v({2, 3, kWidth});
  for (int64_t i = 0; i < k.numel(); ++i) {
    k.data()[i] = static_cast<float>(i);
    v.data()[i] = static_cast<float>(-i);
  }
  state.layer(0).set_cross(k, v, kHeads);
  state.reorder({0, 0, 0, 1, 1, 1});  // three beams per image
  DecoderState::Layer layer = state.layer(0);
  EXPECT_EQ(layer.cross_length(), 3);
  EXPECT_EQ(layer.cross_head_stride(), 3 * kHeadDim);
  for (int64_t r = 0; r < 6; ++r) {
    const int64_t image = r / 3;
    // The very same memory as the image's first row: nothing was copied per row.
    EXPECT_EQ(layer.cross_keys(r), layer.cross_keys(image * 3)) << "row " << r;
    EXPECT_EQ(layer.cross_values(r), layer.cross_values(image * 3)) << "row " << r;
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t e = 0; e < kWidth; ++e) {
        const int64_t at = e / kHeadDim * layer.cross_head_stride() + t * kHeadDim + e % kHeadDim;
        const float x = static_cast<float>((image * 3 + t) * kWidth + e);
        ASSERT_EQ(layer.cross_keys(r)[at], x) << "row " << r << " position " << t << " " << e;
        ASSERT_EQ(layer.cross_values(r)[at], -x) << "row " << r << " position " << t << " " << e;
      }
  }
  EXPECT_NE(layer.cross_keys(0), layer.cross_keys(3));
}

TEST(DecoderState, BadArgumentsAreErrors) {
  DecoderState state(2, 1);
  const std::string range = test::expect_throw_message<InvalidArgument>([&] {
    state.reorder({0, 2});
  });
  EXPECT_NE(range.find("row 2 out of range [0, 2)"), std::string::npos) << range;
  EXPECT_THROW(state.layer(0).cross_length(), InvalidArgument);  // never set
  EXPECT_THROW(state.layer(0).set_cross(Tensor<float>({3, 2, kWidth}),
                                        Tensor<float>({3, 2, kWidth}), kHeads),
               InvalidArgument);  // 3 blocks for 2 images
  const std::string heads = test::expect_throw_message<InvalidArgument>([&] {
    state.layer(0).set_cross(Tensor<float>({2, 2, kWidth}), Tensor<float>({2, 2, kWidth}), 3);
  });
  EXPECT_NE(heads.find("width 4 is not 3 heads"), std::string::npos) << heads;
  append(state, {0, 1}, 1);
  EXPECT_THROW(state.layer(0).prepare_append(1, kHeads, kHeadDim + 1), InvalidArgument);
  EXPECT_THROW(state.layer(0).prepare_append(1, kHeads + 1, kHeadDim), InvalidArgument);
  EXPECT_THROW(state.layer(0).prepare_append(1, 0, kHeadDim), InvalidArgument);
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
