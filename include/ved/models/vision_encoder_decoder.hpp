#pragma once

// VisionEncoderDecoderModel — transformers' modeling_vision_encoder_decoder.py: any supported
// vision encoder feeding any supported text decoder through cross-attention, with
// `enc_to_dec_proj` (a Linear) in between when the widths differ and the decoder has no
// cross_attention_hidden_size of its own.
//
// Thread safety: a loaded model is immutable. Every const member function may be called from any
// number of threads at once; each generate() call keeps its caches in its own DecoderState.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ved/config.hpp"
#include "ved/generation/generation_config.hpp"
#include "ved/generation/search.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/model_options.hpp"
#include "ved/models/registry.hpp"
#include "ved/nn/linear.hpp"

namespace ved {

class VisionEncoderDecoderModel {
 public:
  // Loads config.json, generation_config.json (if present) and the weights of a checkpoint
  // folder written by transformers' save_pretrained.
  static VisionEncoderDecoderModel from_pretrained(const std::string& dir,
                                                   const ModelOptions& options = {});

  VisionEncoderDecoderModel(VisionEncoderDecoderConfig config, GenerationConfig generation_config,
                            std::shared_ptr<const WeightSource> weights,
                            const ModelOptions& options = {});

  const VisionEncoderDecoderConfig& config() const { return config_; }
  // The defaults generate() starts from (generation_config.json, or config.json's values).
  const GenerationConfig& generation_config() const { return generation_config_; }
  const VisionEncoder& encoder() const { return *encoder_; }
  const TextDecoder& decoder() const { return *decoder_; }
  // Tensors of the checkpoint the model does not read, leaving out those transformers does not
  // use either (buffers it recomputes, the encoder's pooler, stored copies of tied weights).
  const std::vector<std::string>& unused_weights() const { return unused_weights_; }

  // pixel_values [B, C, H, W] -> encoder last_hidden_state [B, S, encoder hidden].
  Tensor<float> encode(const Tensor<float>& pixel_values) const;

  // What the decoder's cross-attention receives: enc_to_dec_proj(encoder states) when present.
  Tensor<float> project(const Tensor<float>& encoder_hidden_states) const;

  struct ForwardOutput {
    Tensor<float> encoder_last_hidden_state;  // [B, S, encoder hidden]
    Tensor<float> logits;                     // [B, T, vocab]
  };

  // Teacher-forced pass: model(pixel_values=..., decoder_input_ids=...).
  ForwardOutput forward(const Tensor<float>& pixel_values,
                        const Tensor<int64_t>& decoder_input_ids) const;

  // Generates from the images in pixel_values with `config` (start from generation_config()).
  // `decoder_input_ids` is an optional prompt: one row for every image or one row per image, all
  // of one length. As in transformers, decoder_start_token_id is prepended when no row starts
  // with it, except for Donut's encoder (whose task prompts carry their own start).
  // `on_token` streams greedy/sampled tokens and can stop generation (not with beam search).
  // `timings`, when given, has the time of each stage added to it (ved bench --verbose).
  GenerateOutput generate(const Tensor<float>& pixel_values, const GenerationConfig& config,
                          const std::vector<std::vector<int64_t>>& decoder_input_ids = {},
                          const TokenCallback& on_token = {},
                          GenerateTimings* timings = nullptr) const;

  // generate() with transformers-style keyword arguments over generation_config():
  // model.generate(pixel_values, {{"max_new_tokens", 20}, {"num_beams", 4}}).
  // "decoder_input_ids" (a list of rows) is taken as the prompt.
  GenerateOutput generate(const Tensor<float>& pixel_values,
                          const detail::json& kwargs = detail::json::object()) const;

  static std::vector<std::vector<int64_t>> parse_decoder_input_ids(const detail::json& j);

 private:
  GenerateOutput generate_rows(const Tensor<float>& pixel_values, const GenerationConfig& config,
                               const std::vector<std::vector<int64_t>>& decoder_input_ids,
                               const TokenCallback& on_token, GenerateTimings* timings) const;

  // Lists the checkpoint's tensors the model never read in unused_weights_, and warns about them
  // (or throws WeightError when `strict`).
  void check_unused_weights(const WeightSource& weights, bool strict);

  // transformers' _prepare_decoder_input_ids_for_generation.
  std::vector<std::vector<int64_t>> make_prompts(const GenerationConfig& config,
                                                 const std::vector<std::vector<int64_t>>& user,
                                                 int64_t B) const;

  VisionEncoderDecoderConfig config_;
  GenerationConfig generation_config_;
  std::unique_ptr<VisionEncoder> encoder_;     // encoder.*
  std::optional<nn::Linear> enc_to_dec_proj_;  // enc_to_dec_proj.{weight,bias}
  std::unique_ptr<TextDecoder> decoder_;       // decoder.*
  std::vector<std::string> unused_weights_;
};

}  // namespace ved
