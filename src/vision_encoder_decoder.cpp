// VisionEncoderDecoderModel's loading and generation, compiled once into libved.

#include "ved/models/vision_encoder_decoder.hpp"

#include "ved/log.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ved {

VisionEncoderDecoderModel VisionEncoderDecoderModel::from_pretrained(const std::string& dir,
                                                                     const ModelOptions& options) {
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
  return VisionEncoderDecoderModel(config, std::move(gen), WeightSource::from_dir(dir), options);
}

VisionEncoderDecoderModel::VisionEncoderDecoderModel(VisionEncoderDecoderConfig config,
                                                     GenerationConfig generation_config,
                                                     std::shared_ptr<const WeightSource> weights,
                                                     const ModelOptions& options)
    : config_(std::move(config)), generation_config_(std::move(generation_config)) {
  const WeightLoader root(weights, "", options.weight_type);
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
  check_unused_weights(*weights, options.strict);
}

namespace {

// Stored tensors that transformers loads or skips without them changing generate()'s output,
// and that ved therefore does not read: buffers it recomputes (and lists in
// _keys_to_ignore_on_load_unexpected), the pooler an AutoModel encoder carries (the decoder reads
// last_hidden_state only), and LM heads stored although they are tied to the embeddings.
bool unused_by_design(const std::string& name, bool tied_head) {
  static const char* const kBuffers[] = {
      ".position_ids",     ".token_type_ids",      ".relative_position_index",   ".attn.bias",
      ".attn.masked_bias", ".crossattention.bias", ".crossattention.masked_bias"};
  for (const char* b : kBuffers)
    if (detail::ends_with(name, b)) return true;
  if (name.rfind("encoder.pooler.", 0) == 0) return true;
  if (tied_head) {
    static const char* const kHeads[] = {"decoder.lm_head.weight",
                                         "decoder.cls.predictions.decoder.weight",
                                         "decoder.cls.predictions.decoder.bias",
                                         "decoder.lm_head.decoder.weight",
                                         "decoder.lm_head.decoder.bias",
                                         "decoder.output_projection.weight"};
    for (const char* h : kHeads)
      if (name == h) return true;
  }
  return false;
}

}  // namespace

void VisionEncoderDecoderModel::check_unused_weights(const WeightSource& weights, bool strict) {
  const bool tied_head = config_.decoder.get("tie_word_embeddings", true);
  for (const auto& name : weights.unread())
    if (!unused_by_design(name, tied_head)) unused_weights_.push_back(name);
  if (unused_weights_.empty()) return;
  std::string names;
  for (size_t i = 0; i < unused_weights_.size() && i < 8; ++i)
    names += (i ? ", " : "") + unused_weights_[i];
  if (unused_weights_.size() > 8)
    names += " and " + std::to_string(unused_weights_.size() - 8) + " more";
  const std::string message =
      weights.describe() + ": " + std::to_string(unused_weights_.size()) +
      " tensors are not used by the " + config_.encoder.model_type + " + " +
      config_.decoder.model_type +
      " model that config.json describes, so this checkpoint is probably not that architecture "
      "(a variant with extra parameters) and its output may be wrong: " +
      names;
  if (strict) throw WeightError(message);
  warn(message);
}

Tensor<float> VisionEncoderDecoderModel::encode(const Tensor<float>& pixel_values) const {
  if (pixel_values.ndim() != 4)
    throw InvalidArgument("pixel_values must have shape [batch, channels, height, width], got " +
                          shape_str(pixel_values.shape()));
  if (pixel_values.dim(0) == 0) throw InvalidArgument("pixel_values holds no images");
  return encoder_->forward(pixel_values);
}

Tensor<float> VisionEncoderDecoderModel::project(const Tensor<float>& encoder_hidden_states) const {
  return enc_to_dec_proj_ ? enc_to_dec_proj_->forward(encoder_hidden_states)
                          : encoder_hidden_states;
}

VisionEncoderDecoderModel::ForwardOutput VisionEncoderDecoderModel::forward(
    const Tensor<float>& pixel_values, const Tensor<int64_t>& decoder_input_ids) const {
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

GenerateOutput VisionEncoderDecoderModel::generate(
    const Tensor<float>& pixel_values, const GenerationConfig& config,
    const std::vector<std::vector<int64_t>>& decoder_input_ids, const TokenCallback& on_token,
    GenerateTimings* timings) const {
  config.validate();
  if (on_token && config.num_beams > 1)
    throw InvalidArgument(
        "generate(): a token callback cannot be used with beam search (num_beams > 1)");
  GenerateOutput out = detail::timed(timings, &GenerateTimings::total_s, [&] {
    return generate_rows(pixel_values, config, decoder_input_ids, on_token, timings);
  });
  if (timings)
    timings->search_s =
        timings->total_s - timings->encoder_s - timings->cross_kv_s - timings->decoder_s;
  return out;
}

GenerateOutput VisionEncoderDecoderModel::generate(const Tensor<float>& pixel_values,
                                                   const detail::json& kwargs) const {
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

std::vector<std::vector<int64_t>> VisionEncoderDecoderModel::parse_decoder_input_ids(
    const detail::json& j) {
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

GenerateOutput VisionEncoderDecoderModel::generate_rows(
    const Tensor<float>& pixel_values, const GenerationConfig& config,
    const std::vector<std::vector<int64_t>>& decoder_input_ids, const TokenCallback& on_token,
    GenerateTimings* timings) const {
  const int64_t B = pixel_values.ndim() == 4 ? pixel_values.dim(0) : 0;
  std::vector<std::vector<int64_t>> prompts = make_prompts(config, decoder_input_ids, B);
  const Tensor<float> encoder_states =
      detail::timed(timings, &GenerateTimings::encoder_s, [&] { return encode(pixel_values); });
  DecoderState state = detail::timed(timings, &GenerateTimings::cross_kv_s,
                                     [&] { return decoder_->start(project(encoder_states)); });
  if (config.num_beams > 1) return beam_search(*decoder_, state, config, prompts, timings);
  if (config.num_return_sequences > 1) {
    // Sampling: num_return_sequences rows per image, which share its cross-attention keys and
    // values (the expansion copies none).
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
  return greedy_or_sample(*decoder_, state, config, std::move(prompts), on_token, timings);
}

std::vector<std::vector<int64_t>> VisionEncoderDecoderModel::make_prompts(
    const GenerationConfig& config, const std::vector<std::vector<int64_t>>& user,
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

}  // namespace ved
