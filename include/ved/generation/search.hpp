#pragma once

// Search strategies over a TextDecoder: greedy and sampling (one token per row per step).
// They share transformers' loop (`_sample` in generation/utils.py): process the last position's
// logits, choose a token, feed pad_token_id to rows that already produced an eos, stop when every
// row is finished or the length limit is reached.

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "ved/generation/generation_config.hpp"
#include "ved/generation/logits_process.hpp"
#include "ved/models/registry.hpp"

namespace ved {

struct GenerateOutput {
  std::vector<std::vector<int64_t>> sequences;  // one row per returned sequence, decoder start token first
  std::vector<float> sequences_scores;          // beam search: one per row
  std::vector<Tensor<float>> scores;            // output_scores: per step, [rows, vocab] processed scores
};

// A GenerationConfig with its special tokens resolved as transformers' _prepare_special_tokens does.
struct ResolvedTokens {
  int64_t decoder_start;
  std::vector<int64_t> eos;
  std::optional<int64_t> pad;
};

inline ResolvedTokens resolve_special_tokens(const GenerationConfig& g, int64_t vocab) {
  ResolvedTokens t;
  if (g.decoder_start_token_id) t.decoder_start = *g.decoder_start_token_id;
  else if (g.bos_token_id) t.decoder_start = *g.bos_token_id;
  else throw ConfigError("generate(): neither decoder_start_token_id nor bos_token_id is set");
  t.eos = g.eos_token_id;
  t.pad = g.pad_token_id;
  if (!t.pad && !t.eos.empty()) t.pad = t.eos.front();
  auto check = [&](int64_t id, const char* what) {
    if (id < 0 || id >= vocab)
      throw InvalidArgument(std::string("generate(): ") + what + " " + std::to_string(id) + " is outside the vocabulary [0, " +
                            std::to_string(vocab) + ")");
  };
  check(t.decoder_start, "decoder_start_token_id");
  for (int64_t e : t.eos) check(e, "eos_token_id");
  if (t.pad) check(*t.pad, "pad_token_id");
  return t;
}

inline int64_t argmax(const float* s, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (s[i] > s[best]) best = i;  // ties keep the lowest index, as torch.argmax does
  return best;
}

// Draws from softmax(s); -inf entries have probability zero.
inline int64_t sample(const float* s, int64_t n, std::mt19937_64& rng) {
  const float m = *std::max_element(s, s + n);
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += p[static_cast<size_t>(i)] = std::exp(static_cast<double>(s[i] - m));
  double u = std::uniform_real_distribution<double>(0.0, sum)(rng);
  for (int64_t i = 0; i < n; ++i) {
    u -= p[static_cast<size_t>(i)];
    if (u < 0.0 && p[static_cast<size_t>(i)] > 0.0) return i;
  }
  return argmax(s, n);
}

// Greedy decoding (do_sample=false) or multinomial sampling (do_sample=true).
inline GenerateOutput greedy_or_sample(const TextDecoder& decoder, DecoderState& state, const GenerationConfig& g) {
  const int64_t B = state.batch_size(), V = decoder.vocab_size();
  const ResolvedTokens tok = resolve_special_tokens(g, V);
  const int64_t max_length = g.effective_max_length();
  const LogitsProcessorList processors = make_logits_processors(g, 1, max_length);
  std::mt19937_64 rng(g.seed ? *g.seed : std::random_device{}());

  GenerateOutput out;
  out.sequences.assign(static_cast<size_t>(B), std::vector<int64_t>{tok.decoder_start});
  std::vector<bool> unfinished(static_cast<size_t>(B), true);
  Tensor<int64_t> input({B, 1});
  for (int64_t len = 1; len < max_length; ++len) {
    for (int64_t b = 0; b < B; ++b) input.data()[b] = out.sequences[static_cast<size_t>(b)].back();
    Tensor<float> scores = decoder.forward(state, input, /*last_only=*/true).reshape({B, V});
    bool any_unfinished = false;
    for (int64_t b = 0; b < B; ++b) {
      auto& seq = out.sequences[static_cast<size_t>(b)];
      float* row = scores.data() + b * V;
      apply_processors(processors, seq, row, V);
      int64_t next = g.do_sample ? sample(row, V, rng) : argmax(row, V);
      if (!tok.eos.empty() && !unfinished[static_cast<size_t>(b)]) next = *tok.pad;
      seq.push_back(next);
      if (std::find(tok.eos.begin(), tok.eos.end(), next) != tok.eos.end()) unfinished[static_cast<size_t>(b)] = false;
      any_unfinished = any_unfinished || unfinished[static_cast<size_t>(b)];
    }
    if (g.output_scores) out.scores.push_back(std::move(scores));
    if (!any_unfinished) break;
  }
  return out;
}

}  // namespace ved
