#pragma once

// The two halves of a VisionEncoderDecoderModel, and the factories that map config.json's
// `model_type` to them. The factories live in src/models.cpp, the one translation unit that
// compiles every model family: a program that only loads checkpoints through this interface
// does not compile them again. Adding a family means adding its header and a line there.

#include <memory>
#include <string>
#include <vector>

#include "ved/config.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/models/decoder_state.hpp"
#include "ved/tensor.hpp"

namespace ved {

class VisionEncoder {
 public:
  virtual ~VisionEncoder() = default;
  // pixel_values [B, C, H, W] -> last_hidden_state [B, S, hidden_size]
  virtual Tensor<float> forward(const Tensor<float>& pixel_values) const = 0;
  virtual int64_t hidden_size() const = 0;
};

class TextDecoder {
 public:
  virtual ~TextDecoder() = default;
  // A fresh state for encoder_hidden_states [B, S, encoder_hidden_size()]: computes every
  // layer's cross-attention keys and values.
  virtual DecoderState start(const Tensor<float>& encoder_hidden_states) const = 0;
  // Feeds input_ids [B, T] (positions state.length() .. +T) and returns logits [B, T, vocab],
  // or [B, 1, vocab] for the last position only when `last_only`.
  virtual Tensor<float> forward(DecoderState& state, const Tensor<int64_t>& input_ids,
                                bool last_only) const = 0;
  virtual int64_t hidden_size() const = 0;
  // Width of the encoder states the cross-attention consumes.
  virtual int64_t encoder_hidden_size() const = 0;
  virtual int64_t vocab_size() const = 0;
  // Positions beyond this have no position embedding (0 = unlimited).
  virtual int64_t max_positions() const = 0;
};

// Builds the encoder (decoder) config.model_type names, loading its weights; ConfigError names
// the supported types when there is none by that name.
std::unique_ptr<VisionEncoder> make_encoder(const PretrainedConfig& config,
                                            const WeightLoader& weights);
std::unique_ptr<TextDecoder> make_decoder(const PretrainedConfig& config,
                                          const WeightLoader& weights);

// The model_type values make_encoder and make_decoder accept, sorted.
std::vector<std::string> encoder_model_types();
std::vector<std::string> decoder_model_types();

}  // namespace ved
