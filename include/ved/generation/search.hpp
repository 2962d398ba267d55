#pragma once

// Search strategies over a TextDecoder, following transformers' generation/utils.py:
// - greedy_or_sample (`_sample`): process the last position's logits, choose a token, feed
//   pad_token_id to rows that already produced an eos, stop when every row is finished or the
//   length limit is reached;
// - beam_search (`_beam_search` with BeamSearchScorer / BeamHypotheses).

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "ved/generation/generation_config.hpp"
#include "ved/generation/logits_process.hpp"
#include "ved/models/registry.hpp"

namespace ved {

struct GenerateOutput {
  std::vector<std::vector<int64_t>>
      sequences;                        // one row per returned sequence, decoder start token first
  std::vector<float> sequences_scores;  // beam search: one per row
  std::vector<Tensor<float>> scores;    // output_scores: per step, [rows, vocab] processed scores
};

// A GenerationConfig with its special tokens resolved as transformers' _prepare_special_tokens
// does.
struct ResolvedTokens {
  int64_t decoder_start;
  std::vector<int64_t> eos;
  std::optional<int64_t> pad;
};

inline ResolvedTokens resolve_special_tokens(const GenerationConfig& g, int64_t vocab) {
  ResolvedTokens t;
  if (g.decoder_start_token_id)
    t.decoder_start = *g.decoder_start_token_id;
  else if (g.bos_token_id)
    t.decoder_start = *g.bos_token_id;
  else
    throw ConfigError("generate(): neither decoder_start_token_id nor bos_token_id is set");
  t.eos = g.eos_token_id;
  t.pad = g.pad_token_id;
  if (!t.pad && !t.eos.empty()) t.pad = t.eos.front();
  auto check = [&](int64_t id, const char* what) {
    if (id < 0 || id >= vocab)
      throw InvalidArgument(std::string("generate(): ") + what + " " + std::to_string(id) +
                            " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
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
  for (int64_t i = 0; i < n; ++i)
    sum += p[static_cast<size_t>(i)] = std::exp(static_cast<double>(s[i] - m));
  double u = std::uniform_real_distribution<double>(0.0, sum)(rng);
  for (int64_t i = 0; i < n; ++i) {
    u -= p[static_cast<size_t>(i)];
    if (u < 0.0 && p[static_cast<size_t>(i)] > 0.0) return i;
  }
  return argmax(s, n);
}

// Greedy decoding (do_sample=false) or multinomial sampling (do_sample=true).
inline GenerateOutput greedy_or_sample(const TextDecoder& decoder, DecoderState& state,
                                       const GenerationConfig& g) {
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
      if (std::find(tok.eos.begin(), tok.eos.end(), next) != tok.eos.end())
        unfinished[static_cast<size_t>(b)] = false;
      any_unfinished = any_unfinished || unfinished[static_cast<size_t>(b)];
    }
    if (g.output_scores) out.scores.push_back(std::move(scores));
    if (!any_unfinished) break;
  }
  return out;
}

namespace detail {

// transformers' BeamHypotheses: the best `num_beams` finished hypotheses of one batch item.
class BeamHypotheses {
 public:
  BeamHypotheses(int64_t num_beams, double length_penalty, const std::string& early_stopping,
                 int64_t max_length)
      : num_beams_(num_beams),
        length_penalty_(length_penalty),
        early_stopping_(early_stopping),
        max_length_(max_length) {}

  int64_t size() const { return static_cast<int64_t>(beams_.size()); }

  // `generated_len` counts generated tokens (decoder start excluded, a final eos included).
  void add(std::vector<int64_t> hyp, float sum_logprobs, int64_t generated_len) {
    const double score = static_cast<double>(sum_logprobs) /
                         std::pow(static_cast<double>(generated_len), length_penalty_);
    if (size() < num_beams_ || score > worst_score_) {
      beams_.push_back({score, std::move(hyp)});
      if (size() > num_beams_) {
        // Drop the worst (the earliest among equals), as sorted((score, index)) picks it.
        size_t worst = 0;
        for (size_t i = 1; i < beams_.size(); ++i)
          if (beams_[i].score < beams_[worst].score) worst = i;
        beams_.erase(beams_.begin() + static_cast<std::ptrdiff_t>(worst));
        worst_score_ = beams_[0].score;
        for (const auto& b : beams_) worst_score_ = std::min(worst_score_, b.score);
      } else {
        worst_score_ = std::min(score, worst_score_);
      }
    }
  }

  // `cur_len` is the decoder length the candidate scores were computed for (start token included).
  bool is_done(float best_sum_logprobs, int64_t cur_len) const {
    if (size() < num_beams_) return false;
    if (early_stopping_ == "true") return true;
    const int64_t len =
        (early_stopping_ == "never" && length_penalty_ > 0.0) ? max_length_ - 1 : cur_len - 1;
    const double best = static_cast<double>(best_sum_logprobs) /
                        std::pow(static_cast<double>(len), length_penalty_);
    return worst_score_ >= best;
  }

  // Best first; among equal scores the one added last, as sorted(...).pop() returns it.
  std::vector<std::pair<double, std::vector<int64_t>>> best() const {
    std::vector<size_t> order(beams_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return beams_[a].score < beams_[b].score; });
    std::vector<std::pair<double, std::vector<int64_t>>> out;
    for (auto it = order.rbegin(); it != order.rend(); ++it)
      out.emplace_back(beams_[*it].score, beams_[*it].tokens);
    return out;
  }

 private:
  struct Hyp {
    double score;
    std::vector<int64_t> tokens;
  };
  int64_t num_beams_;
  double length_penalty_;
  std::string early_stopping_;
  int64_t max_length_;
  double worst_score_ = 1e9;
  std::vector<Hyp> beams_;
};

inline void log_softmax_inplace(float* s, int64_t n) {
  const float m = *std::max_element(s, s + n);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(s[i] - m);
  const float log_sum = std::log(sum);
  for (int64_t i = 0; i < n; ++i) s[i] = s[i] - m - log_sum;
}

}  // namespace detail

// Beam search over a state holding one row per image; the state is expanded to
// num_beams rows per image here.
inline GenerateOutput beam_search(const TextDecoder& decoder, DecoderState& state,
                                  const GenerationConfig& g) {
  const int64_t B = state.batch_size(), K = g.num_beams, V = decoder.vocab_size(), rows = B * K;
  const ResolvedTokens tok = resolve_special_tokens(g, V);
  const int64_t max_length = g.effective_max_length();
  const LogitsProcessorList processors = make_logits_processors(g, 1, max_length);

  std::vector<int64_t> expand;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) expand.push_back(b);
  state.reorder(expand);

  std::vector<std::vector<int64_t>> ids(static_cast<size_t>(rows),
                                        std::vector<int64_t>{tok.decoder_start});
  // Only beam 0 is live at first: the others start at -1e9 so the first step does not pick the
  // same token K times.
  std::vector<float> beam_scores(static_cast<size_t>(rows), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    if (r % K != 0) beam_scores[static_cast<size_t>(r)] = -1e9f;
  std::vector<detail::BeamHypotheses> hyps;
  for (int64_t b = 0; b < B; ++b)
    hyps.emplace_back(K, g.length_penalty, g.early_stopping, max_length);
  std::vector<bool> done(static_cast<size_t>(B), false);
  const int64_t n_keep = std::max<int64_t>(2, 1 + static_cast<int64_t>(tok.eos.size())) * K;

  Tensor<int64_t> input({rows, 1});
  int64_t cur_len = 1;
  while (cur_len < max_length) {
    for (int64_t r = 0; r < rows; ++r) input.data()[r] = ids[static_cast<size_t>(r)].back();
    Tensor<float> scores = decoder.forward(state, input, /*last_only=*/true).reshape({rows, V});
    for (int64_t r = 0; r < rows; ++r) {
      float* row = scores.data() + r * V;
      detail::log_softmax_inplace(row, V);
      apply_processors(processors, ids[static_cast<size_t>(r)], row, V);
      for (int64_t v = 0; v < V; ++v) row[v] += beam_scores[static_cast<size_t>(r)];
    }
    std::vector<float> next_scores(static_cast<size_t>(rows));
    std::vector<int64_t> next_tokens(static_cast<size_t>(rows)),
        next_rows(static_cast<size_t>(rows));
    for (int64_t b = 0; b < B; ++b) {
      if (done[static_cast<size_t>(b)]) {
        for (int64_t k = 0; k < K; ++k) {
          next_scores[static_cast<size_t>(b * K + k)] = 0.0f;
          next_tokens[static_cast<size_t>(b * K + k)] = tok.pad.value_or(0);
          next_rows[static_cast<size_t>(b * K + k)] = b * K;
        }
        continue;
      }
      // torch.topk over this item's K*V candidates, best first (lower index first among ties).
      const float* cand = scores.data() + b * K * V;
      std::vector<int64_t> top(static_cast<size_t>(K * V));
      std::iota(top.begin(), top.end(), 0);
      const int64_t n = std::min(n_keep, K * V);
      std::partial_sort(top.begin(), top.begin() + n, top.end(), [&](int64_t x, int64_t y) {
        return cand[x] > cand[y] || (cand[x] == cand[y] && x < y);
      });
      int64_t beam = 0;
      for (int64_t rank = 0; rank < n && beam < K; ++rank) {
        const int64_t c = top[static_cast<size_t>(rank)], token = c % V, from = b * K + c / V;
        if (std::find(tok.eos.begin(), tok.eos.end(), token) != tok.eos.end()) {
          if (rank >= K) continue;  // an eos outside the top K candidates is dropped
          hyps[static_cast<size_t>(b)].add(ids[static_cast<size_t>(from)], cand[c], cur_len);
        } else {
          next_scores[static_cast<size_t>(b * K + beam)] = cand[c];
          next_tokens[static_cast<size_t>(b * K + beam)] = token;
          next_rows[static_cast<size_t>(b * K + beam)] = from;
          ++beam;
        }
      }
      const float best = cand[top[0]];
      done[static_cast<size_t>(b)] = hyps[static_cast<size_t>(b)].is_done(best, cur_len + 1);
    }
    std::vector<std::vector<int64_t>> next_ids;
    for (int64_t r = 0; r < rows; ++r) {
      next_ids.push_back(ids[static_cast<size_t>(next_rows[static_cast<size_t>(r)])]);
      next_ids.back().push_back(next_tokens[static_cast<size_t>(r)]);
    }
    ids = std::move(next_ids);
    beam_scores = next_scores;
    state.reorder(next_rows);
    ++cur_len;
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
  }

  // Items still open at the length limit take their live beams as hypotheses.
  for (int64_t b = 0; b < B; ++b) {
    if (done[static_cast<size_t>(b)]) continue;
    for (int64_t k = 0; k < K; ++k) {
      const auto& seq = ids[static_cast<size_t>(b * K + k)];
      hyps[static_cast<size_t>(b)].add(seq, beam_scores[static_cast<size_t>(b * K + k)],
                                       static_cast<int64_t>(seq.size()) - 1);
    }
  }
  GenerateOutput out;
  size_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto best = hyps[static_cast<size_t>(b)].best();
    for (int64_t j = 0; j < g.num_return_sequences; ++j) {
      out.sequences.push_back(best[static_cast<size_t>(j)].second);
      out.sequences_scores.push_back(static_cast<float>(best[static_cast<size_t>(j)].first));
      longest = std::max(longest, out.sequences.back().size());
    }
  }
  // Rows shorter than the longest get the first eos id, then pad_token_id.
  const size_t width = std::min<size_t>(longest + 1, static_cast<size_t>(max_length));
  for (auto& seq : out.sequences) {
    if (seq.size() < width && !tok.eos.empty()) seq.push_back(tok.eos.front());
    if (seq.size() < width) {
      if (!tok.pad)
        throw InvalidArgument(
            "generate(): beam search needs pad_token_id to pad hypotheses of different lengths");
      seq.resize(width, *tok.pad);
    }
  }
  return out;
}

}  // namespace ved
