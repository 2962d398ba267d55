#pragma once

// The two halves of a VisionEncoderDecoderModel and the registries that map config.json's
// `model_type` to them. A model family registers itself from its own header, so adding a family
// means adding one file (and including it from models/all.hpp).

#include <functional>
#include <map>
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

using EncoderFactory =
    std::function<std::unique_ptr<VisionEncoder>(const PretrainedConfig&, const WeightLoader&)>;
using DecoderFactory =
    std::function<std::unique_ptr<TextDecoder>(const PretrainedConfig&, const WeightLoader&)>;

namespace detail {

inline std::map<std::string, EncoderFactory>& encoder_registry() {
  static std::map<std::string, EncoderFactory> r;
  return r;
}
inline std::map<std::string, DecoderFactory>& decoder_registry() {
  static std::map<std::string, DecoderFactory> r;
  return r;
}

struct RegisterEncoder {
  RegisterEncoder(const char* model_type, EncoderFactory f) {
    encoder_registry()[model_type] = std::move(f);
  }
};
struct RegisterDecoder {
  RegisterDecoder(const char* model_type, DecoderFactory f) {
    decoder_registry()[model_type] = std::move(f);
  }
};

template <typename Map>
std::string registered_names(const Map& m) {
  std::string s;
  for (const auto& kv : m) s += (s.empty() ? "" : ", ") + kv.first;
  return s;
}

}  // namespace detail

inline std::unique_ptr<VisionEncoder> make_encoder(const PretrainedConfig& config,
                                                   const WeightLoader& weights) {
  auto& r = detail::encoder_registry();
  auto it = r.find(config.model_type);
  if (it == r.end())
    throw ConfigError(config.source + ": unknown encoder model_type '" + config.model_type +
                      "' (supported: " + detail::registered_names(r) + ")");
  return it->second(config, weights);
}

inline std::unique_ptr<TextDecoder> make_decoder(const PretrainedConfig& config,
                                                 const WeightLoader& weights) {
  auto& r = detail::decoder_registry();
  auto it = r.find(config.model_type);
  if (it == r.end())
    throw ConfigError(config.source + ": unknown decoder model_type '" + config.model_type +
                      "' (supported: " + detail::registered_names(r) + ")");
  return it->second(config, weights);
}

}  // namespace ved
