#pragma once

// Logits processors and warpers, by transformers' class names (generation/logits_process.py).
// Each edits one row of scores given that row's decoder history (decoder start token included),
// in place. `make_logits_processors` builds the list generate() uses, in transformers' order.

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <vector>

#include "ved/error.hpp"
#include "ved/generation/generation_config.hpp"

namespace ved {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

class LogitsProcessor {
 public:
  virtual ~LogitsProcessor() = default;
  virtual void operator()(const std::vector<int64_t>& input_ids, float* scores,
                          int64_t vocab) const = 0;
};

using LogitsProcessorList = std::vector<std::unique_ptr<LogitsProcessor>>;

inline void apply_processors(const LogitsProcessorList& list, const std::vector<int64_t>& ids,
                             float* scores, int64_t vocab) {
  for (const auto& p : list) (*p)(ids, scores, vocab);
}

namespace detail {
inline bool in_vocab(int64_t id, int64_t vocab) {
  return id >= 0 && id < vocab;
}
}  // namespace detail

class RepetitionPenaltyLogitsProcessor : public LogitsProcessor {
 public:
  explicit RepetitionPenaltyLogitsProcessor(float penalty) : penalty_(penalty) {}
  void operator()(const std::vector<int64_t>& ids, float* s, int64_t vocab) const override {
    // Gather every distinct id's score first: a repeated id is penalised once.
    std::map<int64_t, float> penalised;
    for (int64_t id : ids)
      if (detail::in_vocab(id, vocab))
        penalised.emplace(id, s[id] < 0 ? s[id] * penalty_ : s[id] / penalty_);
    for (const auto& [id, v] : penalised) s[id] = v;
  }

 private:
  float penalty_;
};

class NoRepeatNGramLogitsProcessor : public LogitsProcessor {
 public:
  explicit NoRepeatNGramLogitsProcessor(int64_t ngram_size) : n_(ngram_size) {}
  void operator()(const std::vector<int64_t>& ids, float* s, int64_t vocab) const override {
    const int64_t len = static_cast<int64_t>(ids.size());
    if (len + 1 < n_) return;
    // Every n-gram whose first n-1 tokens equal the last n-1 tokens bans its last token.
    for (int64_t start = 0; start + n_ <= len; ++start) {
      bool match = true;
      for (int64_t j = 0; j < n_ - 1 && match; ++j)
        match = ids[static_cast<size_t>(start + j)] == ids[static_cast<size_t>(len - n_ + 1 + j)];
      const int64_t banned = ids[static_cast<size_t>(start + n_ - 1)];
      if (match && detail::in_vocab(banned, vocab)) s[banned] = kNegInf;
    }
  }

 private:
  int64_t n_;
};

class NoBadWordsLogitsProcessor : public LogitsProcessor {
 public:
  explicit NoBadWordsLogitsProcessor(std::vector<std::vector<int64_t>> bad_words)
      : bad_(std::move(bad_words)) {}
  void operator()(const std::vector<int64_t>& ids, float* s, int64_t vocab) const override {
    for (const auto& seq : bad_) {
      if (seq.empty()) continue;
      const size_t prefix = seq.size() - 1;
      if (prefix > ids.size()) continue;
      if (std::equal(seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(prefix),
                     ids.end() - static_cast<std::ptrdiff_t>(prefix)) &&
          detail::in_vocab(seq.back(), vocab))
        s[seq.back()] = kNegInf;
    }
  }

 private:
  std::vector<std::vector<int64_t>> bad_;
};

class MinLengthLogitsProcessor : public LogitsProcessor {
 public:
  MinLengthLogitsProcessor(int64_t min_length, std::vector<int64_t> eos)
      : min_length_(min_length), eos_(std::move(eos)) {}
  void operator()(const std::vector<int64_t>& ids, float* s, int64_t vocab) const override {
    if (static_cast<int64_t>(ids.size()) < min_length_)
      for (int64_t e : eos_)
        if (detail::in_vocab(e, vocab)) s[e] = kNegInf;
  }

 private:
  int64_t min_length_;
  std::vector<int64_t> eos_;
};

class MinNewTokensLengthLogitsProcessor : public LogitsProcessor {
 public:
  MinNewTokensLengthLogitsProcessor(int64_t prompt_length_to_skip, int64_t min_new_tokens,
                                    std::vector<int64_t> eos)
      : skip_(prompt_length_to_skip), min_new_(min_new_tokens), eos_(std::move(eos)) {}
  void operator()(const std::vector<int64_t>& ids, float* s, int64_t vocab) const override {
    if (static_cast<int64_t>(ids.size()) - skip_ < min_new_)
      for (int64_t e : eos_)
        if (detail::in_vocab(e, vocab)) s[e] = kNegInf;
  }

 private:
  int64_t skip_, min_new_;
  std::vector<int64_t> eos_;
};

// Forces `ids_to_force` (all other scores -inf, the forced ones 0) when the history has `at_length`
// tokens.
class ForcedTokensAtLength : public LogitsProcessor {
 public:
  ForcedTokensAtLength(int64_t at_length, std::vector<int64_t> ids)
      : at_(at_length), ids_(std::move(ids)) {}
  void operator()(const std::vector<int64_t>& ids, float* s, int64_t vocab) const override {
    if (static_cast<int64_t>(ids.size()) != at_) return;
    std::fill(s, s + vocab, kNegInf);
    for (int64_t id : ids_)
      if (detail::in_vocab(id, vocab)) s[id] = 0.0f;
  }

 private:
  int64_t at_;
  std::vector<int64_t> ids_;
};

// transformers' ForcedBOSTokenLogitsProcessor: the first generated token.
inline std::unique_ptr<LogitsProcessor> ForcedBOSTokenLogitsProcessor(int64_t bos_token_id) {
  return std::make_unique<ForcedTokensAtLength>(1, std::vector<int64_t>{bos_token_id});
}
// transformers' ForcedEOSTokenLogitsProcessor: the token at position max_length - 1.
inline std::unique_ptr<LogitsProcessor> ForcedEOSTokenLogitsProcessor(int64_t max_length,
                                                                      std::vector<int64_t> eos) {
  return std::make_unique<ForcedTokensAtLength>(max_length - 1, std::move(eos));
}

// transformers' SuppressTokensLogitsProcessor (begin_index < 0: always) and
// SuppressTokensAtBeginLogitsProcessor (only when the history has begin_index tokens).
class SuppressTokensLogitsProcessor : public LogitsProcessor {
 public:
  explicit SuppressTokensLogitsProcessor(std::vector<int64_t> tokens, int64_t begin_index = -1)
      : tokens_(std::move(tokens)), begin_index_(begin_index) {}
  void operator()(const std::vector<int64_t>& ids, float* s, int64_t vocab) const override {
    if (begin_index_ >= 0 && static_cast<int64_t>(ids.size()) != begin_index_) return;
    for (int64_t t : tokens_)
      if (detail::in_vocab(t, vocab)) s[t] = kNegInf;
  }

 private:
  std::vector<int64_t> tokens_;
  int64_t begin_index_;
};

class TemperatureLogitsWarper : public LogitsProcessor {
 public:
  explicit TemperatureLogitsWarper(float temperature) : t_(temperature) {}
  void operator()(const std::vector<int64_t>&, float* s, int64_t vocab) const override {
    for (int64_t i = 0; i < vocab; ++i) s[i] /= t_;
  }

 private:
  float t_;
};

class TopKLogitsWarper : public LogitsProcessor {
 public:
  explicit TopKLogitsWarper(int64_t top_k, int64_t min_tokens_to_keep = 1)
      : k_(std::max(top_k, min_tokens_to_keep)) {}
  void operator()(const std::vector<int64_t>&, float* s, int64_t vocab) const override {
    const int64_t k = std::min(k_, vocab);
    if (k <= 0) return;
    std::vector<float> v(s, s + vocab);
    std::nth_element(v.begin(), v.begin() + (k - 1), v.end(), std::greater<float>());
    const float threshold = v[static_cast<size_t>(k - 1)];
    // Ties with the k-th score are kept, as torch's `scores < topk(...)[-1]` keeps them.
    for (int64_t i = 0; i < vocab; ++i)
      if (s[i] < threshold) s[i] = kNegInf;
  }

 private:
  int64_t k_;
};

class TopPLogitsWarper : public LogitsProcessor {
 public:
  explicit TopPLogitsWarper(float top_p, int64_t min_tokens_to_keep = 1)
      : p_(top_p), min_keep_(std::max<int64_t>(1, min_tokens_to_keep)) {}
  void operator()(const std::vector<int64_t>&, float* s, int64_t vocab) const override {
    std::vector<int64_t> order(static_cast<size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] < s[b]; });
    // Softmax and cumulative sum in float32 and ascending order, as torch computes them.
    const float m = s[order.back()];
    std::vector<float> probs(static_cast<size_t>(vocab));
    float sum = 0.0f;
    for (int64_t i = 0; i < vocab; ++i)
      sum += probs[static_cast<size_t>(i)] = std::exp(s[order[static_cast<size_t>(i)]] - m);
    float cum = 0.0f;
    const float limit = 1.0f - p_;
    for (int64_t i = 0; i < vocab - min_keep_; ++i) {
      cum += probs[static_cast<size_t>(i)] / sum;
      if (cum <= limit) s[order[static_cast<size_t>(i)]] = kNegInf;
    }
  }

 private:
  float p_;
  int64_t min_keep_;
};

// The processors generate() applies, in transformers' order. `prompt_length` is the decoder
// prompt length (1: the start token). Warpers are included only when sampling.
inline LogitsProcessorList make_logits_processors(const GenerationConfig& g, int64_t prompt_length,
                                                  int64_t max_length) {
  LogitsProcessorList list;
  const std::vector<int64_t>& eos = g.eos_token_id;
  if (g.repetition_penalty != 1.0)
    list.push_back(std::make_unique<RepetitionPenaltyLogitsProcessor>(
        static_cast<float>(g.repetition_penalty)));
  if (g.no_repeat_ngram_size > 0)
    list.push_back(std::make_unique<NoRepeatNGramLogitsProcessor>(g.no_repeat_ngram_size));
  if (!g.bad_words_ids.empty()) {
    // transformers never bans a lone eos through bad_words_ids.
    std::vector<std::vector<int64_t>> bad;
    for (const auto& seq : g.bad_words_ids)
      if (!(seq.size() == 1 && std::find(eos.begin(), eos.end(), seq[0]) != eos.end()))
        bad.push_back(seq);
    list.push_back(std::make_unique<NoBadWordsLogitsProcessor>(std::move(bad)));
  }
  if (g.min_length > 0 && !eos.empty())
    list.push_back(std::make_unique<MinLengthLogitsProcessor>(g.min_length, eos));
  if (g.min_new_tokens && *g.min_new_tokens > 0 && !eos.empty())
    list.push_back(
        std::make_unique<MinNewTokensLengthLogitsProcessor>(prompt_length, *g.min_new_tokens, eos));
  if (g.forced_bos_token_id) list.push_back(ForcedBOSTokenLogitsProcessor(*g.forced_bos_token_id));
  if (!g.forced_eos_token_ids.empty())
    list.push_back(ForcedEOSTokenLogitsProcessor(max_length, g.forced_eos_token_ids));
  if (!g.suppress_tokens.empty())
    list.push_back(std::make_unique<SuppressTokensLogitsProcessor>(g.suppress_tokens));
  if (!g.begin_suppress_tokens.empty()) {
    // With a forced BOS the first free step is one later.
    const int64_t begin =
        (prompt_length > 1 || !g.forced_bos_token_id) ? prompt_length : prompt_length + 1;
    list.push_back(std::make_unique<SuppressTokensLogitsProcessor>(g.begin_suppress_tokens, begin));
  }
  if (g.do_sample) {
    const int64_t keep = g.num_beams > 1 ? 2 : 1;
    if (g.temperature != 1.0)
      list.push_back(std::make_unique<TemperatureLogitsWarper>(static_cast<float>(g.temperature)));
    if (g.top_k != 0) list.push_back(std::make_unique<TopKLogitsWarper>(g.top_k, keep));
    if (g.top_p < 1.0)
      list.push_back(std::make_unique<TopPLogitsWarper>(static_cast<float>(g.top_p), keep));
  }
  return list;
}

}  // namespace ved
