#pragma once

// VisionEncoderDecoderModel — transformers' modeling_vision_encoder_decoder.py: any registered
// vision encoder feeding any registered text decoder through cross-attention, with
// `enc_to_dec_proj` (a Linear) in between when the widths differ and the decoder has no
// cross_attention_hidden_size of its own.
//
// Thread safety: a loaded model is immutable. Every const member function may be called from any
// number of threads at once; each generate() call keeps its caches in its own DecoderState.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "ved/config.hpp"
#include "ved/generation/generation_config.hpp"
#include "ved/generation/search.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/models/all.hpp"
#include "ved/nn/linear.hpp"

namespace ved {

class VisionEncoderDecoderModel {
 public:
  // Loads config.json, generation_config.json (if present) and the weights of a checkpoint
  // folder written by transformers' save_pretrained.
  static VisionEncoderDecoderModel from_pretrained(const std::string& dir) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(dir)) throw IoError(dir + ": not a directory");
    const std::string config_path = (fs::path(dir) / "config.json").string();
    const detail::json config_json = detail::read_json_file(config_path);
    const VisionEncoderDecoderConfig config =
        VisionEncoderDecoderConfig::from_json(config_json, config_path);
    const fs::path gen_path = fs::path(dir) / "generation_config.json";
    GenerationConfig gen = fs::exists(gen_path)
                               ? GenerationConfig::from_file(gen_path.string())
                               : GenerationConfig::from_model_config(config_json, config_path);
    return VisionEncoderDecoderModel(config, std::move(gen), WeightSource::from_dir(dir));
  }

  VisionEncoderDecoderModel(VisionEncoderDecoderConfig config, GenerationConfig generation_config,
                            std::shared_ptr<const WeightSource> weights)
      : config_(std::move(config)), generation_config_(std::move(generation_config)) {
    const WeightLoader root(std::move(weights));
    encoder_ = make_encoder(config_.encoder, root.sub("encoder"));
    decoder_ = make_decoder(config_.decoder, root.sub("decoder"));
    const int64_t enc = encoder_->hidden_size(), dec = decoder_->hidden_size();
    if (enc != dec && !config_.decoder.has("cross_attention_hidden_size"))
      enc_to_dec_proj_ = nn::Linear::load(root.sub("enc_to_dec_proj"), enc, dec);
    const int64_t fed = enc_to_dec_proj_ ? dec : enc;
    if (fed != decoder_->encoder_hidden_size())
      throw ConfigError(config_.source + ": the decoder's cross-attention reads states of width " +
                        std::to_string(decoder_->encoder_hidden_size()) +
                        " but the encoder produces " + std::to_string(fed));
  }

  const VisionEncoderDecoderConfig& config() const { return config_; }
  // The defaults generate() starts from (generation_config.json, or config.json's values).
  const GenerationConfig& generation_config() const { return generation_config_; }
  const VisionEncoder& encoder() const { return *encoder_; }
  const TextDecoder& decoder() const { return *decoder_; }

  // pixel_values [B, C, H, W] -> encoder last_hidden_state [B, S, encoder hidden].
  Tensor<float> encode(const Tensor<float>& pixel_values) const {
    if (pixel_values.ndim() != 4)
      throw InvalidArgument("pixel_values must have shape [batch, channels, height, width], got " +
                            shape_str(pixel_values.shape()));
    if (pixel_values.dim(0) == 0) throw InvalidArgument("pixel_values holds no images");
    return encoder_->forward(pixel_values);
  }

  // What the decoder's cross-attention receives: enc_to_dec_proj(encoder states) when present.
  Tensor<float> project(const Tensor<float>& encoder_hidden_states) const {
    return enc_to_dec_proj_ ? enc_to_dec_proj_->forward(encoder_hidden_states)
                            : encoder_hidden_states;
  }

  struct ForwardOutput {
    Tensor<float> encoder_last_hidden_state;  // [B, S, encoder hidden]
    Tensor<float> logits;                     // [B, T, vocab]
  };

  // Teacher-forced pass: model(pixel_values=..., decoder_input_ids=...).
  ForwardOutput forward(const Tensor<float>& pixel_values,
                        const Tensor<int64_t>& decoder_input_ids) const {
    if (decoder_input_ids.ndim() != 2 || decoder_input_ids.dim(0) != pixel_values.dim(0) ||
        decoder_input_ids.dim(1) == 0)
      throw InvalidArgument("decoder_input_ids must have shape [" +
                            std::to_string(pixel_values.dim(0)) + ", length > 0], got " +
                            shape_str(decoder_input_ids.shape()));
    ForwardOutput out;
    out.encoder_last_hidden_state = encode(pixel_values);
    DecoderState state = decoder_->start(project(out.encoder_last_hidden_state));
    out.logits = decoder_->forward(state, decoder_input_ids, /*last_only=*/false);
    return out;
  }

  // Generates from the images in pixel_values with `config` (start from generation_config()).
  GenerateOutput generate(const Tensor<float>& pixel_values, const GenerationConfig& config) const {
    config.validate();
    const Tensor<float> encoder_states = encode(pixel_values);
    DecoderState state = decoder_->start(project(encoder_states));
    if (config.num_beams > 1) return beam_search(*decoder_, state, config);
    if (config.num_return_sequences > 1) {  // sampling: num_return_sequences draws per image
      std::vector<int64_t> rows;
      for (int64_t b = 0; b < state.batch_size(); ++b)
        rows.insert(rows.end(), static_cast<size_t>(config.num_return_sequences), b);
      state.reorder(rows);
    }
    return greedy_or_sample(*decoder_, state, config);
  }

  // generate() with transformers-style keyword arguments over generation_config():
  // model.generate(pixel_values, {{"max_new_tokens", 20}, {"num_beams", 4}}).
  GenerateOutput generate(const Tensor<float>& pixel_values,
                          const detail::json& kwargs = detail::json::object()) const {
    GenerationConfig g = generation_config_;
    g.update(kwargs);
    return generate(pixel_values, g);
  }

 private:
  VisionEncoderDecoderConfig config_;
  GenerationConfig generation_config_;
  std::unique_ptr<VisionEncoder> encoder_;     // encoder.*
  std::optional<nn::Linear> enc_to_dec_proj_;  // enc_to_dec_proj.{weight,bias}
  std::unique_ptr<TextDecoder> decoder_;       // decoder.*
};

}  // namespace ved
