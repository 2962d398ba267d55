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
  // `decoder_input_ids` is an optional prompt: one row for every image or one row per image, all
  // of one length. As in transformers, decoder_start_token_id is prepended when no row starts
  // with it, except for Donut's encoder (whose task prompts carry their own start).
  // `on_token` streams greedy/sampled tokens and can stop generation (not with beam search).
  GenerateOutput generate(const Tensor<float>& pixel_values, const GenerationConfig& config,
                          const std::vector<std::vector<int64_t>>& decoder_input_ids = {},
                          const TokenCallback& on_token = {}) const {
    config.validate();
    if (on_token && config.num_beams > 1)
      throw InvalidArgument(
          "generate(): a token callback cannot be used with beam search (num_beams > 1)");
    const int64_t B = pixel_values.ndim() == 4 ? pixel_values.dim(0) : 0;
    std::vector<std::vector<int64_t>> prompts = make_prompts(config, decoder_input_ids, B);
    const Tensor<float> encoder_states = encode(pixel_values);
    DecoderState state = decoder_->start(project(encoder_states));
    if (config.num_beams > 1) return beam_search(*decoder_, state, config, prompts);
    if (config.num_return_sequences > 1) {  // sampling: num_return_sequences draws per image
      std::vector<int64_t> rows;
      std::vector<std::vector<int64_t>> expanded;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t n = 0; n < config.num_return_sequences; ++n) {
          rows.push_back(b);
          expanded.push_back(prompts[static_cast<size_t>(b)]);
        }
      state.reorder(rows);
      prompts = std::move(expanded);
    }
    return greedy_or_sample(*decoder_, state, config, std::move(prompts), on_token);
  }

  // generate() with transformers-style keyword arguments over generation_config():
  // model.generate(pixel_values, {{"max_new_tokens", 20}, {"num_beams", 4}}).
  // "decoder_input_ids" (a list of rows) is taken as the prompt.
  GenerateOutput generate(const Tensor<float>& pixel_values,
                          const detail::json& kwargs = detail::json::object()) const {
    GenerationConfig g = generation_config_;
    detail::json rest = kwargs;
    std::vector<std::vector<int64_t>> prompt;
    if (rest.is_object() && rest.contains("decoder_input_ids")) {
      prompt = parse_decoder_input_ids(rest["decoder_input_ids"]);
      rest.erase("decoder_input_ids");
    }
    g.update(rest);
    return generate(pixel_values, g, prompt);
  }

  static std::vector<std::vector<int64_t>> parse_decoder_input_ids(const detail::json& j) {
    const char* what =
        "generate(): decoder_input_ids must be a list of rows of token ids, e.g. [[0, 57521]]";
    if (!j.is_array() || j.empty()) throw InvalidArgument(what);
    std::vector<std::vector<int64_t>> rows;
    for (const auto& row : j) {
      if (!row.is_array()) throw InvalidArgument(what);
      rows.emplace_back();
      for (const auto& id : row) {
        if (!id.is_number_integer()) throw InvalidArgument(what);
        rows.back().push_back(id.get<int64_t>());
      }
    }
    return rows;
  }

 private:
  // transformers' _prepare_decoder_input_ids_for_generation.
  std::vector<std::vector<int64_t>> make_prompts(const GenerationConfig& config,
                                                 const std::vector<std::vector<int64_t>>& user,
                                                 int64_t B) const {
    const int64_t start = resolve_special_tokens(config, decoder_->vocab_size()).decoder_start;
    if (user.empty()) return std::vector<std::vector<int64_t>>(static_cast<size_t>(B), {start});
    if (static_cast<int64_t>(user.size()) != 1 && static_cast<int64_t>(user.size()) != B)
      throw InvalidArgument("generate(): decoder_input_ids has " + std::to_string(user.size()) +
                            " rows for " + std::to_string(B) + " images");
    std::vector<std::vector<int64_t>> rows;
    for (int64_t b = 0; b < B; ++b)
      rows.push_back(user[user.size() == 1 ? 0 : static_cast<size_t>(b)]);
    for (const auto& r : rows) {
      if (r.size() != rows[0].size() || r.empty())
        throw InvalidArgument(
            "generate(): decoder_input_ids rows must be non-empty and of one length");
      for (int64_t id : r)
        if (id < 0 || id >= decoder_->vocab_size())
          throw InvalidArgument("generate(): decoder_input_ids holds " + std::to_string(id) +
                                ", outside the vocabulary [0, " +
                                std::to_string(decoder_->vocab_size()) + ")");
    }
    const bool donut = config_.encoder.model_type.find("donut") != std::string::npos;
    const bool none_start =
        std::none_of(rows.begin(), rows.end(), [&](const auto& r) { return r[0] == start; });
    if (!donut && none_start)
      for (auto& r : rows) r.insert(r.begin(), start);
    return rows;
  }

  VisionEncoderDecoderConfig config_;
  GenerationConfig generation_config_;
  std::unique_ptr<VisionEncoder> encoder_;     // encoder.*
  std::optional<nn::Linear> enc_to_dec_proj_;  // enc_to_dec_proj.{weight,bias}
  std::unique_ptr<TextDecoder> decoder_;       // decoder.*
};

}  // namespace ved
