#pragma once

// generate() settings with transformers' GenerationConfig names and defaults.
//
// Sources, in transformers' order: generation_config.json when the checkpoint has one, else the
// model's config.json (top level, then the decoder sub-config for fields still at their default);
// then the keyword arguments of one generate() call (`update`). Unknown keyword arguments and
// settings ved does not implement are errors, never silently ignored.

#include <optional>
#include <string>
#include <vector>

#include "ved/config.hpp"
#include "ved/detail/json.hpp"
#include "ved/limits.hpp"

namespace ved {

struct GenerationConfig {
  // length
  int64_t max_length = 20;  // total decoder length, decoder start token included
  std::optional<int64_t> max_new_tokens;
  int64_t min_length = 0;
  std::optional<int64_t> min_new_tokens;
  std::string early_stopping = "false";  // "false", "true" or "never"
  // strategy
  bool do_sample = false;
  int64_t num_beams = 1;
  // logits manipulation
  double temperature = 1.0;
  int64_t top_k = 50;
  double top_p = 1.0;
  double repetition_penalty = 1.0;
  double length_penalty = 1.0;
  int64_t no_repeat_ngram_size = 0;
  std::vector<std::vector<int64_t>> bad_words_ids;
  std::optional<int64_t> forced_bos_token_id;
  std::vector<int64_t> forced_eos_token_ids;  // forced_eos_token_id: an int or a list
  std::vector<int64_t> suppress_tokens;
  std::vector<int64_t> begin_suppress_tokens;
  // output
  int64_t num_return_sequences = 1;
  bool output_scores = false;
  // ved's own: seeds sampling's std::mt19937_64. Draws are made row by row in a fixed order, so
  // a seed gives the same tokens on every run and with any thread count. Unset: a random seed.
  std::optional<uint64_t> seed;
  // special tokens
  std::optional<int64_t> pad_token_id, bos_token_id, decoder_start_token_id;
  std::vector<int64_t> eos_token_id;

  static GenerationConfig from_file(const std::string& path) {
    GenerationConfig g;
    g.apply(detail::read_json_file(path), path, /*strict=*/false);
    return g;
  }

  // transformers' GenerationConfig.from_model_config: the top level of config.json, then the
  // decoder sub-config for every field the top level leaves at its default.
  static GenerationConfig from_model_config(const detail::json& config, const std::string& where) {
    // (Iterating keys of a list would throw nlohmann's invalid_iterator: found by fuzzing.)
    if (!config.is_object()) throw ConfigError(where + ": top level is not a JSON object");
    GenerationConfig g;
    if (config.contains("decoder") && config["decoder"].is_object())
      g.apply(config["decoder"], where + ": decoder", false);
    const detail::json defaults = GenerationConfig().to_json();
    for (auto it = config.begin(); it != config.end(); ++it) {
      if (it.key() == "encoder" || it.key() == "decoder") continue;
      GenerationConfig probe;
      const detail::json one = {{it.key(), it.value()}};
      probe.apply(one, where, false);
      if (probe.to_json() != defaults) g.apply(one, where, false);
    }
    return g;
  }

  detail::json to_json() const {
    auto opt = [](const auto& o) { return o ? detail::json(*o) : detail::json(nullptr); };
    return {{"max_length", max_length},
            {"max_new_tokens", opt(max_new_tokens)},
            {"min_length", min_length},
            {"min_new_tokens", opt(min_new_tokens)},
            {"early_stopping", early_stopping},
            {"do_sample", do_sample},
            {"num_beams", num_beams},
            {"temperature", temperature},
            {"top_k", top_k},
            {"top_p", top_p},
            {"repetition_penalty", repetition_penalty},
            {"length_penalty", length_penalty},
            {"no_repeat_ngram_size", no_repeat_ngram_size},
            {"bad_words_ids", bad_words_ids},
            {"forced_bos_token_id", opt(forced_bos_token_id)},
            {"forced_eos_token_id", forced_eos_token_ids},
            {"suppress_tokens", suppress_tokens},
            {"begin_suppress_tokens", begin_suppress_tokens},
            {"num_return_sequences", num_return_sequences},
            {"output_scores", output_scores},
            {"seed", opt(seed)},
            {"pad_token_id", opt(pad_token_id)},
            {"bos_token_id", opt(bos_token_id)},
            {"decoder_start_token_id", opt(decoder_start_token_id)},
            {"eos_token_id", eos_token_id}};
  }

  // Keyword arguments of one generate() call, e.g. {"max_new_tokens": 12, "num_beams": 4}.
  void update(const detail::json& kwargs, const std::string& source = "generate() arguments") {
    apply(kwargs, source, /*strict=*/true);
  }

  // The decoder length limit for a prompt of `prompt_length` tokens (decoder start token
  // included): max_new_tokens counts after the prompt, max_length includes it.
  int64_t effective_max_length(int64_t prompt_length = 1) const {
    return max_new_tokens ? *max_new_tokens + prompt_length : max_length;
  }

  void validate() const;

 private:
  void apply(const detail::json& j, const std::string& where, bool strict);
};

namespace detail {

inline std::vector<int64_t> int_list(const json& v, const std::string& where, const char* key) {
  if (!v.is_array()) throw ConfigError(where + ": field '" + key + "' must be a list of integers");
  std::vector<int64_t> out;
  for (const auto& x : v) {
    if (!x.is_number_integer())
      throw ConfigError(where + ": field '" + key + "' must be a list of integers");
    out.push_back(x.get<int64_t>());
  }
  return out;
}

}  // namespace detail

inline void GenerationConfig::apply(const detail::json& j, const std::string& where, bool strict) {
  using detail::get_or;
  if (!j.is_object()) throw ConfigError(where + ": expected a JSON object");
  auto opt_int = [&](const char* key, std::optional<int64_t>& field) {
    if (j.contains(key))
      field = j[key].is_null() ? std::nullopt
                               : std::optional<int64_t>(get_or<int64_t>(j, key, 0, where));
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const detail::json& v = it.value();
    if (k == "max_length")
      max_length = get_or<int64_t>(j, "max_length", max_length, where);
    else if (k == "max_new_tokens")
      opt_int("max_new_tokens", max_new_tokens);
    else if (k == "min_length")
      min_length = get_or<int64_t>(j, "min_length", min_length, where);
    else if (k == "min_new_tokens")
      opt_int("min_new_tokens", min_new_tokens);
    else if (k == "early_stopping") {
      if (v.is_boolean())
        early_stopping = v.get<bool>() ? "true" : "false";
      else if (v == "never")
        early_stopping = "never";
      else if (!v.is_null())
        throw ConfigError(where + ": early_stopping must be true, false or \"never\"");
    } else if (k == "do_sample")
      do_sample = get_or<bool>(j, "do_sample", do_sample, where);
    else if (k == "num_beams")
      num_beams = get_or<int64_t>(j, "num_beams", num_beams, where);
    else if (k == "temperature")
      temperature = get_or<double>(j, "temperature", temperature, where);
    else if (k == "top_k")
      top_k = get_or<int64_t>(j, "top_k", top_k, where);
    else if (k == "top_p")
      top_p = get_or<double>(j, "top_p", top_p, where);
    else if (k == "repetition_penalty")
      repetition_penalty = get_or<double>(j, "repetition_penalty", repetition_penalty, where);
    else if (k == "length_penalty")
      length_penalty = get_or<double>(j, "length_penalty", length_penalty, where);
    else if (k == "no_repeat_ngram_size")
      no_repeat_ngram_size =
          get_or<int64_t>(j, "no_repeat_ngram_size", no_repeat_ngram_size, where);
    else if (k == "bad_words_ids") {
      bad_words_ids.clear();
      if (!v.is_null()) {
        if (!v.is_array())
          throw ConfigError(where + ": bad_words_ids must be a list of lists of integers");
        for (const auto& seq : v)
          bad_words_ids.push_back(detail::int_list(seq, where, "bad_words_ids"));
      }
    } else if (k == "forced_bos_token_id")
      opt_int("forced_bos_token_id", forced_bos_token_id);
    else if (k == "forced_eos_token_id") {
      forced_eos_token_ids = token_id_list(j, "forced_eos_token_id", where);
    } else if (k == "suppress_tokens")
      suppress_tokens =
          v.is_null() ? std::vector<int64_t>{} : detail::int_list(v, where, "suppress_tokens");
    else if (k == "begin_suppress_tokens")
      begin_suppress_tokens = v.is_null() ? std::vector<int64_t>{}
                                          : detail::int_list(v, where, "begin_suppress_tokens");
    else if (k == "num_return_sequences")
      num_return_sequences =
          get_or<int64_t>(j, "num_return_sequences", num_return_sequences, where);
    else if (k == "output_scores")
      output_scores = get_or<bool>(j, "output_scores", output_scores, where);
    else if (k == "seed")
      seed = get_or<uint64_t>(j, "seed", 0, where);
    else if (k == "pad_token_id")
      opt_int("pad_token_id", pad_token_id);
    else if (k == "bos_token_id")
      opt_int("bos_token_id", bos_token_id);
    else if (k == "decoder_start_token_id")
      opt_int("decoder_start_token_id", decoder_start_token_id);
    else if (k == "eos_token_id")
      eos_token_id = token_id_list(j, "eos_token_id", where);
    // Accepted and meaningless here: ved always returns a dict and always uses its cache.
    else if (k == "return_dict_in_generate" || k == "use_cache" || k == "_from_model_config" ||
             k == "transformers_version" || k == "output_attentions" ||
             k == "output_hidden_states" || k == "output_logits")
      continue;
    else if (strict)
      throw ConfigError(where + ": unsupported generate() argument '" + k + "'");
    // Settings ved does not implement must not be silently dropped when they would change the
    // output.
    else if (!strict && !v.is_null()) {
      static const std::pair<const char*, detail::json> inert_defaults[] = {
          {"num_beam_groups", 1},
          {"diversity_penalty", 0.0},
          {"typical_p", 1.0},
          {"epsilon_cutoff", 0.0},
          {"eta_cutoff", 0.0},
          {"encoder_repetition_penalty", 1.0},
          {"penalty_alpha", nullptr},
          {"remove_invalid_values", false},
          {"renormalize_logits", false},
          {"exponential_decay_length_penalty", nullptr},
          {"force_words_ids", nullptr},
          {"constraints", nullptr},
          {"forced_decoder_ids", nullptr},
          {"sequence_bias", nullptr},
          {"guidance_scale", nullptr},
          {"encoder_no_repeat_ngram_size", 0}};
      for (const auto& [name, inert] : inert_defaults)
        if (k == name && v != inert)
          throw ConfigError(where + ": '" + k + "' = " + v.dump() + " is not supported by ved");
    }
  }
  // Checked where the values are read, so that the error names the file (or the arguments)
  // that asked for them; validate() checks again for configs built in code.
  const Limits lim = limits();
  auto cap = [&](const char* key, int64_t value, const char* name, int64_t max) {
    if (value > max)
      throw ConfigError(where + ": field '" + key + "': " +
                        detail::limit_message("value", static_cast<uint64_t>(value), name,
                                              static_cast<uint64_t>(max)));
  };
  cap("max_length", max_length, "max_sequence_length", lim.max_sequence_length);
  if (max_new_tokens)
    cap("max_new_tokens", *max_new_tokens, "max_sequence_length", lim.max_sequence_length);
  cap("num_beams", num_beams, "max_num_beams", lim.max_num_beams);
  cap("num_return_sequences", num_return_sequences, "max_num_return_sequences",
      lim.max_num_return_sequences);
}

inline void GenerationConfig::validate() const {
  auto fail = [](const std::string& m) { throw InvalidArgument("generate(): " + m); };
  if (max_new_tokens && *max_new_tokens <= 0)
    fail("max_new_tokens must be positive, got " + std::to_string(*max_new_tokens));
  if (!max_new_tokens && max_length < 1)
    fail("max_length must be at least 1, got " + std::to_string(max_length));
  if (num_beams < 1) fail("num_beams must be at least 1, got " + std::to_string(num_beams));
  // Each generated token and each beam grows the decoder's caches: a config (possibly from a
  // downloaded generation_config.json) must not be able to ask for unbounded memory.
  const Limits lim = limits();
  auto cap = [&](const char* what, int64_t value, const char* name, int64_t max) {
    if (value > max)
      fail(detail::limit_message(what, static_cast<uint64_t>(value), name,
                                 static_cast<uint64_t>(max)));
  };
  if (max_new_tokens)
    cap("max_new_tokens", *max_new_tokens, "max_sequence_length", lim.max_sequence_length);
  else
    cap("max_length", max_length, "max_sequence_length", lim.max_sequence_length);
  cap("num_beams", num_beams, "max_num_beams", lim.max_num_beams);
  cap("num_return_sequences", num_return_sequences, "max_num_return_sequences",
      lim.max_num_return_sequences);
  if (num_return_sequences < 1) fail("num_return_sequences must be at least 1");
  if (num_beams > 1 && num_return_sequences > num_beams)
    fail("num_return_sequences (" + std::to_string(num_return_sequences) +
         ") must not exceed num_beams (" + std::to_string(num_beams) + ")");
  if (num_beams == 1 && !do_sample && num_return_sequences > 1)
    fail(
        "greedy search returns one sequence per image: num_return_sequences must be 1 without "
        "sampling or beams");
  if (do_sample && !(temperature > 0.0))
    fail("temperature must be positive when do_sample is true");
  if (do_sample && (top_p < 0.0 || top_p > 1.0)) fail("top_p must be in [0, 1]");
  if (top_k < 0) fail("top_k must be non-negative");
  if (!(repetition_penalty > 0.0)) fail("repetition_penalty must be positive");
  if (no_repeat_ngram_size < 0) fail("no_repeat_ngram_size must be non-negative");
}

}  // namespace ved
