#pragma once

// Search strategies over a TextDecoder, following transformers' generation/utils.py. Three
// separate pieces: the search (greedy/sampling rows, or beams), the token choice (argmax or a
// seeded multinomial draw), and the logits processors (logits_process.hpp).
// - greedy_or_sample (`_sample`): process the last position's logits, choose a token, feed
//   pad_token_id to rows that already produced an eos, stop when every row is finished, the
//   length limit is reached or the callback says stop;
// - beam_search (`_beam_search` with BeamSearchScorer / BeamHypotheses), with do_sample drawing
//   the candidates instead of taking the top ones (beam sampling).
// Every row starts from a prompt (at least the decoder start token); the prompt counts toward
// max_length and is not "generated".

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include <Eigen/Core>

#include "ved/detail/parallel.hpp"
#include "ved/detail/profile.hpp"
#include "ved/generation/generation_config.hpp"
#include "ved/generation/logits_process.hpp"
#include "ved/models/registry.hpp"

namespace ved {

struct GenerateOutput {
  // One row per returned sequence (num_return_sequences consecutive rows per image, best first),
  // prompt (decoder start token) included.
  std::vector<std::vector<int64_t>> sequences;
  std::vector<float> sequences_scores;  // beam search: one per row
  // Per row, one entry per position after the prompt: the log-probability of the chosen token
  // under the processed distribution (transformers' compute_transition_scores with
  // normalize_logits). Positions filled with pad_token_id after a row finished hold 0.
  std::vector<std::vector<float>> token_logprobs;
  std::vector<Tensor<float>> scores;  // output_scores: per step, [rows, vocab] processed scores
};

// Called after each step of greedy search or sampling with that step's token of every row;
// returning false stops generation there (e.g. a UI that has shown enough, or a stop string).
using TokenCallback = std::function<bool(int64_t step, const std::vector<int64_t>& tokens)>;

// Special tokens resolved as transformers' _prepare_special_tokens does.
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

// Ties keep the lowest index, as torch.argmax does. The maximum comes from a vectorised
// reduction and its first occurrence from a plain search, which over a vocabulary is several
// times faster than one branchy compare-and-track loop.
inline int64_t argmax(const float* s, int64_t n) {
  const float m = Eigen::Map<const Eigen::ArrayXf>(s, n).maxCoeff();
  const float* at = std::find(s, s + n, m);
  if (at != s + n) return at - s;
  int64_t best = 0;  // NaNs make the reduction's result unspecified: compare one by one
  for (int64_t i = 1; i < n; ++i)
    if (s[i] > s[best]) best = i;
  return best;
}

// Draws an index with probability proportional to exp(s[i]); -inf entries are never drawn.
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

namespace detail {

// exp(x) for x <= 0, within 1.5 ulp (Cephes' expf: x = n ln 2 + r, a polynomial in r, 2^n
// through the exponent bits), written so that the compiler vectorises a loop of it: libm's
// expf is a call per element, and Eigen's vectorised exp trips GCC 12's -Wuninitialized inside its
// AVX-512 intrinsics. Below -87.3 the result would be subnormal: 0 is returned.
inline float exp_nonpositive(float x) {
  const float c = x > -87.3f ? x : -87.3f;  // keeps n in range (and NaN out of the conversion)
  const float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = c - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) * (1 << 23);
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x > -87.3f ? p * scale : 0.0f;
}

}  // namespace detail

// log(sum(exp(s))), vectorised: it runs over the whole vocabulary for every row at every step
// (about 15x faster than a libm expf loop over 50257 logits).
inline float log_sum_exp(const float* s, int64_t n) {
  const float m = Eigen::Map<const Eigen::ArrayXf>(s, n).maxCoeff();
  if (std::isinf(m)) return m;
  constexpr int64_t kLanes = 16;
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) lane[j] += detail::exp_nonpositive(s[i + j] - m);
  float sum = 0.0f;
  for (; i < n; ++i) sum += detail::exp_nonpositive(s[i] - m);
  for (float l : lane) sum += l;
  return m + std::log(sum);
}

namespace detail {

inline std::mt19937_64 make_rng(const GenerationConfig& g) {
  return std::mt19937_64(g.seed ? *g.seed : std::random_device{}());
}

// A NaN or infinite logit (NaN/inf in the weights or the image, or an overflow) leaves no
// meaningful argmax, softmax or top-k, and sorting NaNs is undefined behaviour: generation stops
// with an error instead of emitting an arbitrary token.
// `position` is the decoder position whose token the logits choose.
inline void check_finite_logits(const Tensor<float>& logits, int64_t position) {
  const float* p = logits.data();
  const int64_t n = logits.numel();
  // x * 0 is 0 for every finite x and NaN for NaN and ±inf: one vectorised pass.
  if (!std::isnan((Eigen::Map<const Eigen::ArrayXf>(p, n) * 0.0f).sum())) return;
  const int64_t V = logits.dim(1);
  const int64_t at = std::find_if(p, p + n, [](float x) { return !std::isfinite(x); }) - p;
  throw Error("generate(): the decoder produced a non-finite logit (" + std::to_string(p[at]) +
              ") at position " + std::to_string(position) + ", row " + std::to_string(at / V) +
              ", token " + std::to_string(at % V) +
              "; the model's weights or the pixel values hold NaN or infinite values, or the "
              "computation overflowed");
}

// The longest the caches grow (the decoder refuses positions past its table, so a larger
// max_length never needs them).
inline void reserve_cache(const TextDecoder& decoder, DecoderState& state, int64_t max_length) {
  const int64_t table = decoder.max_positions();
  state.reserve(table > 0 ? std::min(max_length, table) : max_length);
}

// Logits [rows, vocab] at the last position of every row, feeding each row the tokens the state
// has not seen yet (the whole prompt at the first step, one token afterwards).
inline Tensor<float> next_token_logits(const TextDecoder& decoder, DecoderState& state,
                                       const std::vector<std::vector<int64_t>>& ids,
                                       GenerateTimings* timings) {
  const int64_t rows = static_cast<int64_t>(ids.size()), seen = state.length();
  const int64_t n = static_cast<int64_t>(ids[0].size()) - seen;
  Tensor<int64_t> input({rows, n});
  for (int64_t r = 0; r < rows; ++r)
    std::copy(ids[static_cast<size_t>(r)].begin() + seen, ids[static_cast<size_t>(r)].end(),
              input.data() + r * n);
  Tensor<float> logits;
  {
    const ScopedTimer timer(timings ? &timings->decoder_s : nullptr);
    logits =
        decoder.forward(state, input, /*last_only=*/true).reshape({rows, decoder.vocab_size()});
  }
  if (timings) ++timings->decoder_steps;
  check_finite_logits(logits, static_cast<int64_t>(ids[0].size()));
  return logits;
}

}  // namespace detail

// Greedy decoding (do_sample=false) or multinomial sampling (do_sample=true) from `prompts`
// (one per state row, all of one length).
// `timings`, when given, receives the decoder's share of the time.
inline GenerateOutput greedy_or_sample(const TextDecoder& decoder, DecoderState& state,
                                       const GenerationConfig& g,
                                       std::vector<std::vector<int64_t>> prompts,
                                       const TokenCallback& on_token = {},
                                       GenerateTimings* timings = nullptr) {
  const int64_t B = state.batch_size(), V = decoder.vocab_size();
  const ResolvedTokens tok = resolve_special_tokens(g, V);
  const int64_t prompt_len = static_cast<int64_t>(prompts[0].size());
  const int64_t max_length = g.effective_max_length(prompt_len);
  const LogitsProcessorList processors = make_logits_processors(g, prompt_len, max_length);
  std::mt19937_64 rng = detail::make_rng(g);
  detail::reserve_cache(decoder, state, max_length);

  GenerateOutput out;
  out.sequences = std::move(prompts);
  out.token_logprobs.resize(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    out.sequences[static_cast<size_t>(b)].reserve(static_cast<size_t>(max_length));
    out.token_logprobs[static_cast<size_t>(b)].reserve(static_cast<size_t>(max_length));
  }
  std::vector<bool> unfinished(static_cast<size_t>(B), true);
  std::vector<int64_t> step_tokens(static_cast<size_t>(B)), best(static_cast<size_t>(B));
  std::vector<float> log_norm(static_cast<size_t>(B));
  for (int64_t len = prompt_len; len < max_length; ++len) {
    Tensor<float> scores = detail::next_token_logits(decoder, state, out.sequences, timings);
    // Each row's processors, greedy choice and normaliser depend on that row alone, so a batch's
    // rows go to the threads (over a 64k vocabulary, 0.3 ms a row on one core); sampling draws
    // from the one generator in row order below.
    parallel_for(0, B, 1, [&](int64_t b) {
      float* row = scores.data() + b * V;
      apply_processors(processors, out.sequences[static_cast<size_t>(b)], row, V);
      if (!g.do_sample) best[static_cast<size_t>(b)] = argmax(row, V);
      log_norm[static_cast<size_t>(b)] = log_sum_exp(row, V);
    });
    bool any_unfinished = false;
    for (int64_t b = 0; b < B; ++b) {
      auto& seq = out.sequences[static_cast<size_t>(b)];
      const float* row = scores.data() + b * V;
      int64_t next = g.do_sample ? sample(row, V, rng) : best[static_cast<size_t>(b)];
      float logprob = row[next] - log_norm[static_cast<size_t>(b)];
      if (!tok.eos.empty() && !unfinished[static_cast<size_t>(b)]) {
        next = *tok.pad;
        logprob = 0.0f;
      }
      seq.push_back(next);
      out.token_logprobs[static_cast<size_t>(b)].push_back(logprob);
      step_tokens[static_cast<size_t>(b)] = next;
      if (std::find(tok.eos.begin(), tok.eos.end(), next) != tok.eos.end())
        unfinished[static_cast<size_t>(b)] = false;
      any_unfinished = any_unfinished || unfinished[static_cast<size_t>(b)];
    }
    if (g.output_scores) out.scores.push_back(std::move(scores));
    if (on_token && !on_token(len - prompt_len, step_tokens)) break;
    if (!any_unfinished) break;
  }
  return out;
}

namespace detail {

// transformers' BeamHypotheses: the best `num_beams` finished hypotheses of one batch item.
class BeamHypotheses {
 public:
  struct Hypothesis {
    double score;
    std::vector<int64_t> tokens;  // prompt included, eos excluded
    std::vector<float> logprobs;  // per generated token, a final eos included
  };

  BeamHypotheses(int64_t num_beams, double length_penalty, const std::string& early_stopping,
                 int64_t max_length, int64_t prompt_len)
      : num_beams_(num_beams),
        length_penalty_(length_penalty),
        early_stopping_(early_stopping),
        max_length_(max_length),
        prompt_len_(prompt_len) {}

  int64_t size() const { return static_cast<int64_t>(beams_.size()); }

  // `generated_len` counts generated tokens (prompt excluded, a final eos included).
  void add(std::vector<int64_t> tokens, std::vector<float> logprobs, float sum_logprobs,
           int64_t generated_len) {
    const double score = static_cast<double>(sum_logprobs) /
                         std::pow(static_cast<double>(generated_len), length_penalty_);
    if (size() < num_beams_ || score > worst_score_) {
      beams_.push_back({score, std::move(tokens), std::move(logprobs)});
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

  // `cur_len` is the decoder length the candidate scores were computed for, prompt included.
  bool is_done(float best_sum_logprobs, int64_t cur_len) const {
    if (size() < num_beams_) return false;
    if (early_stopping_ == "true") return true;
    const int64_t len = (early_stopping_ == "never" && length_penalty_ > 0.0)
                            ? max_length_ - prompt_len_
                            : cur_len - prompt_len_;
    const double best = static_cast<double>(best_sum_logprobs) /
                        std::pow(static_cast<double>(len), length_penalty_);
    return worst_score_ >= best;
  }

  // Best first; among equal scores the one added last, as sorted(...).pop() returns it.
  std::vector<Hypothesis> best() const {
    std::vector<size_t> order(beams_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return beams_[a].score < beams_[b].score; });
    std::vector<Hypothesis> out;
    for (auto it = order.rbegin(); it != order.rend(); ++it) out.push_back(beams_[*it]);
    return out;
  }

 private:
  int64_t num_beams_;
  double length_penalty_;
  std::string early_stopping_;
  int64_t max_length_, prompt_len_;
  double worst_score_ = 1e9;
  std::vector<Hypothesis> beams_;
};

inline void log_softmax_inplace(float* s, int64_t n) {
  const float log_sum = log_sum_exp(s, n);
  for (int64_t i = 0; i < n; ++i) s[i] -= log_sum;
}

// The indices of the `n` largest of cand[0..size), best first, ties to the lower index (the
// order torch.topk returns on CPU). One pass that keeps the best n sorted: n is 2-3 × num_beams
// and size is num_beams × vocab, so a candidate rarely beats the n-th best, and whole blocks that
// cannot are skipped after one vectorised max.
inline void top_n(const float* cand, int64_t size, int64_t n, std::vector<int64_t>& idx) {
  idx.clear();
  n = std::min(n, size);
  if (n <= 0) return;
  constexpr int64_t kBlock = 512;
  for (int64_t begin = 0; begin < size; begin += kBlock) {
    const int64_t end = std::min(size, begin + kBlock);
    const bool full = static_cast<int64_t>(idx.size()) == n;
    if (full && !(Eigen::Map<const Eigen::ArrayXf>(cand + begin, end - begin).maxCoeff() >
                  cand[idx.back()]))
      continue;
    for (int64_t i = begin; i < end; ++i) {
      // Equal to the n-th best loses: i comes after it.
      if (static_cast<int64_t>(idx.size()) == n && !(cand[i] > cand[idx.back()])) continue;
      auto pos = std::upper_bound(idx.begin(), idx.end(), cand[i],
                                  [&](float value, int64_t j) { return value > cand[j]; });
      if (static_cast<int64_t>(idx.size()) == n) idx.pop_back();
      idx.insert(pos, i);
    }
  }
}

// The `n` candidates of one batch item, best first, into `idx`: torch.topk, or with do_sample
// torch.multinomial without replacement over softmax(cand) followed by a descending sort.
inline void beam_candidates(const float* cand, int64_t size, int64_t n, bool do_sample,
                            std::mt19937_64& rng, std::vector<int64_t>& idx) {
  if (!do_sample) return top_n(cand, size, n, idx);
  n = std::min(n, size);
  idx.clear();
  auto better = [&](int64_t x, int64_t y) {
    return cand[x] > cand[y] || (cand[x] == cand[y] && x < y);
  };
  const float m = *std::max_element(cand, cand + size);
  std::vector<double> w(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i)
    w[static_cast<size_t>(i)] = std::exp(static_cast<double>(cand[i] - m));
  for (int64_t k = 0; k < n; ++k) {
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    if (!(total > 0.0)) break;  // fewer than n tokens left with non-zero probability
    double u = std::uniform_real_distribution<double>(0.0, total)(rng);
    int64_t pick = -1;
    for (int64_t i = 0; i < size; ++i) {
      if (w[static_cast<size_t>(i)] <= 0.0) continue;
      pick = i;
      u -= w[static_cast<size_t>(i)];
      if (u < 0.0) break;
    }
    idx.push_back(pick);
    w[static_cast<size_t>(pick)] = 0.0;
  }
  std::sort(idx.begin(), idx.end(), better);
}

}  // namespace detail

// Beam search from `prompts` (one per image, all of one length) over a state holding one row per
// image; the state is expanded to num_beams rows per image here.
// `timings`, when given, receives the decoder's share of the time.
inline GenerateOutput beam_search(const TextDecoder& decoder, DecoderState& state,
                                  const GenerationConfig& g,
                                  const std::vector<std::vector<int64_t>>& prompts,
                                  GenerateTimings* timings = nullptr) {
  const int64_t B = state.batch_size(), K = g.num_beams, V = decoder.vocab_size(), rows = B * K;
  const ResolvedTokens tok = resolve_special_tokens(g, V);
  const int64_t prompt_len = static_cast<int64_t>(prompts[0].size());
  const int64_t max_length = g.effective_max_length(prompt_len);
  const LogitsProcessorList processors = make_logits_processors(g, prompt_len, max_length);
  std::mt19937_64 rng = detail::make_rng(g);

  std::vector<int64_t> expand;
  std::vector<std::vector<int64_t>> ids;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) {
      expand.push_back(b);
      ids.push_back(prompts[static_cast<size_t>(b)]);
    }
  state.reorder(expand);
  detail::reserve_cache(decoder, state, max_length);
  // next_ids/next_logprobs receive the next step's rows and are then swapped with ids/logprobs:
  // with room for max_length reserved, a step copies tokens but allocates nothing.
  std::vector<std::vector<int64_t>> next_ids(static_cast<size_t>(rows));
  std::vector<std::vector<float>> logprobs(static_cast<size_t>(rows)),
      next_logprobs(static_cast<size_t>(rows));
  for (size_t r = 0; r < static_cast<size_t>(rows); ++r) {
    for (auto* v : {&ids[r], &next_ids[r]}) v->reserve(static_cast<size_t>(max_length));
    for (auto* v : {&logprobs[r], &next_logprobs[r]}) v->reserve(static_cast<size_t>(max_length));
  }

  // Only beam 0 is live at first: the others start at -1e9 so the first step does not pick the
  // same token K times.
  std::vector<float> beam_scores(static_cast<size_t>(rows), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    if (r % K != 0) beam_scores[static_cast<size_t>(r)] = -1e9f;
  std::vector<detail::BeamHypotheses> hyps;
  for (int64_t b = 0; b < B; ++b)
    hyps.emplace_back(K, g.length_penalty, g.early_stopping, max_length, prompt_len);
  std::vector<bool> done(static_cast<size_t>(B), false);
  const int64_t n_keep = std::max<int64_t>(2, 1 + static_cast<int64_t>(tok.eos.size())) * K;

  // Per step: the processed log-probabilities of every row, and the chosen continuations.
  std::vector<float> token_lp(static_cast<size_t>(rows * V));
  std::vector<float> next_scores(static_cast<size_t>(rows));
  std::vector<int64_t> next_tokens(static_cast<size_t>(rows)), next_rows(static_cast<size_t>(rows));
  std::vector<int64_t> top;

  int64_t cur_len = prompt_len;
  while (cur_len < max_length) {
    Tensor<float> scores = detail::next_token_logits(decoder, state, ids, timings);
    std::fill(next_scores.begin(), next_scores.end(), 0.0f);
    std::fill(next_tokens.begin(), next_tokens.end(), 0);
    std::fill(next_rows.begin(), next_rows.end(), 0);
    parallel_for(0, rows, 1, [&](int64_t r) {  // rows are independent (see greedy_or_sample)
      float* row = scores.data() + r * V;
      detail::log_softmax_inplace(row, V);
      apply_processors(processors, ids[static_cast<size_t>(r)], row, V);
      std::copy(row, row + V, token_lp.begin() + r * V);
      for (int64_t v = 0; v < V; ++v) row[v] += beam_scores[static_cast<size_t>(r)];
    });
    for (int64_t b = 0; b < B; ++b) {
      if (done[static_cast<size_t>(b)]) {
        for (int64_t k = 0; k < K; ++k) {
          next_scores[static_cast<size_t>(b * K + k)] = 0.0f;
          next_tokens[static_cast<size_t>(b * K + k)] = tok.pad.value_or(0);
          next_rows[static_cast<size_t>(b * K + k)] = b * K;
        }
        continue;
      }
      const float* cand = scores.data() + b * K * V;
      detail::beam_candidates(cand, K * V, n_keep, g.do_sample, rng, top);
      int64_t beam = 0;
      for (size_t rank = 0; rank < top.size() && beam < K; ++rank) {
        const int64_t c = top[rank], token = c % V, from = b * K + c / V;
        const float lp = token_lp[static_cast<size_t>(from * V + token)];
        if (std::find(tok.eos.begin(), tok.eos.end(), token) != tok.eos.end()) {
          if (static_cast<int64_t>(rank) >= K)
            continue;  // an eos outside the top K candidates is dropped
          std::vector<float> hyp_lp = logprobs[static_cast<size_t>(from)];
          hyp_lp.push_back(lp);
          hyps[static_cast<size_t>(b)].add(ids[static_cast<size_t>(from)], std::move(hyp_lp),
                                           cand[c], cur_len + 1 - prompt_len);
        } else {
          next_scores[static_cast<size_t>(b * K + beam)] = cand[c];
          next_tokens[static_cast<size_t>(b * K + beam)] = token;
          next_rows[static_cast<size_t>(b * K + beam)] = from;
          ++beam;
        }
      }
      done[static_cast<size_t>(b)] =
          hyps[static_cast<size_t>(b)].is_done(cand[top[0]], cur_len + 1);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const size_t from = static_cast<size_t>(next_rows[static_cast<size_t>(r)]);
      const int64_t token = next_tokens[static_cast<size_t>(r)];
      next_ids[static_cast<size_t>(r)] = ids[from];
      next_ids[static_cast<size_t>(r)].push_back(token);
      next_logprobs[static_cast<size_t>(r)] = logprobs[from];
      next_logprobs[static_cast<size_t>(r)].push_back(
          token_lp[from * static_cast<size_t>(V) + static_cast<size_t>(token)]);
    }
    ids.swap(next_ids);
    logprobs.swap(next_logprobs);
    beam_scores.swap(next_scores);
    state.reorder(next_rows);
    ++cur_len;
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
  }

  // Items still open at the length limit take their live beams as hypotheses.
  for (int64_t b = 0; b < B; ++b) {
    if (done[static_cast<size_t>(b)]) continue;
    for (int64_t k = 0; k < K; ++k) {
      const size_t r = static_cast<size_t>(b * K + k);
      hyps[static_cast<size_t>(b)].add(ids[r], logprobs[r], beam_scores[r],
                                       static_cast<int64_t>(ids[r].size()) - prompt_len);
    }
  }
  GenerateOutput out;
  size_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    auto best = hyps[static_cast<size_t>(b)].best();
    for (int64_t j = 0; j < g.num_return_sequences; ++j) {
      auto& h = best[static_cast<size_t>(j)];
      longest = std::max(longest, h.tokens.size());
      out.sequences.push_back(std::move(h.tokens));
      out.token_logprobs.push_back(std::move(h.logprobs));
      out.sequences_scores.push_back(static_cast<float>(h.score));
    }
  }
  // Rows shorter than the longest get the first eos id, then pad_token_id.
  const size_t width = std::min<size_t>(longest + 1, static_cast<size_t>(max_length));
  for (size_t i = 0; i < out.sequences.size(); ++i) {
    auto& seq = out.sequences[i];
    if (seq.size() < width && !tok.eos.empty()) seq.push_back(tok.eos.front());
    if (seq.size() < width) {
      if (!tok.pad)
        throw InvalidArgument(
            "generate(): beam search needs pad_token_id to pad hypotheses of different lengths");
      seq.resize(width, *tok.pad);
    }
    out.token_logprobs[i].resize(seq.size() - static_cast<size_t>(prompt_len), 0.0f);
  }
  return out;
}

}  // namespace ved
