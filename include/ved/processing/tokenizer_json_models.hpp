#pragma once

// The models of a Hugging Face tokenizer.json as the Rust `tokenizers` library runs them: BPE
// (with byte fallback, continuing-subword prefix, end-of-word suffix, ignore_merges), WordPiece
// and Unigram. Each turns one pre-tokenized piece of text into tokens.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ved/processing/tokenizer_json_pipeline.hpp"

namespace ved::detail::fast {

class Model {
 public:
  virtual ~Model() = default;
  // The tokens of one piece of text. May throw a ConfigError when the model needs an unknown
  // token it does not have.
  virtual void tokenize(std::string_view text, std::vector<Token>& out) const = 0;
  virtual std::optional<int64_t> token_to_id(const std::string& token) const = 0;
  virtual std::optional<std::string> id_to_token(int64_t id) const = 0;
  // Number of distinct tokens (the Rust library's get_vocab_size).
  virtual int64_t vocab_size() const = 0;
};

// A string -> id vocabulary read from a JSON object, with the reverse map. Like a Rust
// HashMap built from the file, a repeated token keeps its last id.
struct Vocab {
  std::unordered_map<std::string, int64_t> ids;
  std::unordered_map<int64_t, std::string> tokens;

  static Vocab parse(const json& j, const Where& w) {
    if (!j.is_object()) malformed(w, std::string("expected an object, got ") + j.type_name());
    Vocab v;
    v.ids.reserve(j.size());
    for (const auto& [token, id] : j.items())
      v.ids[token] = read_index(id, w, "the id of \"" + token + "\"");
    v.tokens.reserve(v.ids.size());
    for (const auto& [token, id] : v.ids) {
      // Several tokens can share an id; keep the smallest string so the choice is stable.
      auto [it, inserted] = v.tokens.emplace(id, token);
      if (!inserted && token < it->second) it->second = token;
    }
    return v;
  }

  std::optional<int64_t> find(std::string_view token) const {
    auto it = ids.find(std::string(token));
    if (it == ids.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> token(int64_t id) const {
    auto it = tokens.find(id);
    if (it == tokens.end()) return std::nullopt;
    return it->second;
  }
};

// Words longer than this are not cached: they are rare and would bloat the cache.
inline constexpr std::size_t kMaxCachedWordBytes = 256;
inline constexpr std::size_t kMaxCacheEntries = 1 << 16;

class BpeModel : public Model {
 public:
  BpeModel(const json& j, const Where& w)
      : vocab_(Vocab::parse(required_field(j, "vocab", w), w.child("vocab"))) {
    auto dropout = j.find("dropout");
    if (dropout != j.end() && !dropout->is_null()) {
      if (!dropout->is_number()) malformed(w, "dropout " + dropout->dump() + " is not a number");
      const double p = dropout->get<double>();
      if (!(p >= 0.0 && p <= 1.0)) malformed(w, "dropout " + dropout->dump() + " is not in [0, 1]");
      if (p > 0.0)
        throw ConfigError(w.str() + ": BPE dropout " + dropout->dump() +
                          " is not supported (it makes encoding random)");
    }
    auto unk = j.find("unk_token");
    if (unk != j.end() && !unk->is_null()) unk_token_ = required_string(j, "unk_token", w);
    prefix_ = get_or<std::string>(j, "continuing_subword_prefix", "", w.str());
    suffix_ = get_or<std::string>(j, "end_of_word_suffix", "", w.str());
    fuse_unk_ = optional_bool(j, "fuse_unk", false, w);
    byte_fallback_ = optional_bool(j, "byte_fallback", false, w);
    ignore_merges_ = optional_bool(j, "ignore_merges", false, w);

    const json& merges = list_field(j, "merges", w);
    merges_.reserve(merges.size());
    uint32_t rank = 0;
    for (std::size_t i = 0; i < merges.size(); ++i) {
      const Where mw = w.child("merges").index(i);
      const json& m = merges[i];
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        if (s.rfind("#version", 0) == 0) continue;  // a merges.txt header pasted in
        const std::size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          malformed(mw, "expected \"a b\", got \"" + s + "\"");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        malformed(mw, "expected \"a b\" or [\"a\", \"b\"], got " + m.dump());
      }
      auto id_of = [&](const std::string& token) {
        auto id = vocab_.find(token);
        if (!id) malformed(mw, "merge token \"" + token + "\" is not in the vocabulary");
        return *id;
      };
      const int64_t a_id = id_of(a), b_id = id_of(b);
      if (b.compare(0, prefix_.size(), prefix_) != 0)
        malformed(mw,
                  "merge token \"" + b + "\" does not start with the continuing_subword_prefix");
      const int64_t merged = id_of(a + b.substr(prefix_.size()));
      // Like collecting into a HashMap: a repeated pair keeps its last rank.
      merges_[pair_key(a_id, b_id)] = MergeInfo{rank++, merged};
    }
  }

  void tokenize(std::string_view text, std::vector<Token>& out) const override {
    if (text.empty()) return;
    if (ignore_merges_) {
      if (auto id = vocab_.find(text)) {
        out.push_back(Token{*id, std::string(text)});
        return;
      }
    }
    const bool cacheable = text.size() <= kMaxCachedWordBytes;
    std::vector<int64_t> ids;
    if (cacheable) {
      std::shared_lock<std::shared_mutex> lock(cache_mutex_);
      auto it = cache_.find(std::string(text));
      if (it != cache_.end()) ids = it->second;
    }
    if (ids.empty()) {
      ids = merge_word(text);
      if (cacheable) {
        std::unique_lock<std::shared_mutex> lock(cache_mutex_);
        if (cache_.size() >= kMaxCacheEntries) cache_.clear();
        cache_.emplace(std::string(text), ids);
      }
    }
    for (int64_t id : ids) out.push_back(Token{id, vocab_.tokens.at(id)});
  }

  std::optional<int64_t> token_to_id(const std::string& token) const override {
    return vocab_.find(token);
  }
  std::optional<std::string> id_to_token(int64_t id) const override { return vocab_.token(id); }
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.ids.size()); }

 private:
  struct MergeInfo {
    uint32_t rank;
    int64_t merged;
  };
  struct Symbol {
    int64_t id;
    std::ptrdiff_t prev, next;
    bool removed;
  };
  struct Candidate {
    uint32_t rank;
    std::size_t pos;
    int64_t merged;
    // std::priority_queue is a max-heap: the lowest rank, then the leftmost, on top.
    bool operator<(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };

  static uint64_t pair_key(int64_t a, int64_t b) {
    return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b);
  }

  const MergeInfo* merge_of(int64_t a, int64_t b) const {
    auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  }

  int64_t unk_id() const {
    auto id = vocab_.find(*unk_token_);
    if (!id)
      throw ConfigError("tokenizer.json: the BPE model's unk_token \"" + *unk_token_ +
                        "\" is not in its vocabulary");
    return *id;
  }

  // The Rust library's merge_word: one symbol per character (with the prefix on all but the
  // first and the suffix on the last), unknown characters as byte tokens or the unknown token,
  // then Word::merge_all: the pair with the lowest merge rank first, the leftmost among equals.
  std::vector<int64_t> merge_word(std::string_view w) const {
    std::vector<int64_t> ids;
    std::optional<int64_t> unk;  // a pending (possibly fused) unknown token
    std::string s;
    for (std::size_t pos = 0; pos < w.size();) {
      char32_t cp = 0;
      const std::size_t n = char_at(w, pos, cp);
      s.clear();
      if (pos > 0) s += prefix_;
      s.append(w.substr(pos, n));
      pos += n;
      if (pos == w.size()) s += suffix_;
      if (auto id = vocab_.find(s)) {
        if (unk) ids.push_back(*unk);
        unk.reset();
        ids.push_back(*id);
        continue;
      }
      if (byte_fallback_) {
        std::vector<int64_t> bytes;
        for (unsigned char b : s) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          const std::string code = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
          auto id = vocab_.find(code);
          if (!id) break;
          bytes.push_back(*id);
        }
        if (bytes.size() == s.size()) {
          // The Rust code does not flush a pending unknown token here.
          ids.insert(ids.end(), bytes.begin(), bytes.end());
          continue;
        }
      }
      if (!unk_token_) continue;  // no unknown token: the character is dropped
      if (unk && fuse_unk_) continue;
      if (unk) ids.push_back(*unk);
      unk = unk_id();
    }
    if (unk) ids.push_back(*unk);
    merge_all(ids);
    return ids;
  }

  void merge_all(std::vector<int64_t>& ids) const {
    if (ids.size() < 2 || merges_.empty()) return;
    std::vector<Symbol> sym(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i)
      sym[i] = Symbol{ids[i], static_cast<std::ptrdiff_t>(i) - 1,
                      i + 1 < ids.size() ? static_cast<std::ptrdiff_t>(i + 1) : -1, false};
    std::priority_queue<Candidate> queue;
    for (std::size_t i = 0; i + 1 < ids.size(); ++i)
      if (const MergeInfo* m = merge_of(ids[i], ids[i + 1]))
        queue.push(Candidate{m->rank, i, m->merged});
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& cur = sym[top.pos];
      if (cur.removed || cur.next < 0) continue;
      const std::size_t next_pos = static_cast<std::size_t>(cur.next);
      // Skip an entry made stale by an earlier merge.
      const MergeInfo* m = merge_of(cur.id, sym[next_pos].id);
      if (!m || m->merged != top.merged) continue;
      cur.id = top.merged;
      sym[next_pos].removed = true;
      cur.next = sym[next_pos].next;
      if (cur.next >= 0)
        sym[static_cast<std::size_t>(cur.next)].prev = static_cast<std::ptrdiff_t>(top.pos);
      if (cur.prev >= 0) {
        const std::size_t p = static_cast<std::size_t>(cur.prev);
        if (const MergeInfo* pm = merge_of(sym[p].id, cur.id))
          queue.push(Candidate{pm->rank, p, pm->merged});
      }
      if (cur.next >= 0) {
        if (const MergeInfo* nm = merge_of(cur.id, sym[static_cast<std::size_t>(cur.next)].id))
          queue.push(Candidate{nm->rank, top.pos, nm->merged});
      }
    }
    ids.clear();
    for (const Symbol& s : sym)
      if (!s.removed) ids.push_back(s.id);
  }

  Vocab vocab_;
  std::unordered_map<uint64_t, MergeInfo> merges_;
  std::optional<std::string> unk_token_;
  std::string prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;

  // piece -> ids; the only mutable state, guarded for concurrent callers.
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

class WordPieceModel : public Model {
 public:
  WordPieceModel(const json& j, const Where& w)
      : vocab_(Vocab::parse(required_field(j, "vocab", w), w.child("vocab"))),
        unk_token_(get_or<std::string>(j, "unk_token", "[UNK]", w.str())),
        prefix_(get_or<std::string>(j, "continuing_subword_prefix", "##", w.str())) {
    auto max = j.find("max_input_chars_per_word");
    if (max != j.end() && !max->is_null())
      max_chars_ = static_cast<uint64_t>(read_index(*max, w, "max_input_chars_per_word"));
  }

  // Greedy longest-match-first; a word that cannot be covered, or is longer than
  // max_input_chars_per_word characters, becomes the unknown token.
  void tokenize(std::string_view text, std::vector<Token>& out) const override {
    std::vector<std::size_t> bounds;  // character boundaries
    for (std::size_t pos = 0; pos < text.size();) {
      bounds.push_back(pos);
      char32_t cp = 0;
      pos += char_at(text, pos, cp);
    }
    const std::size_t chars = bounds.size();
    bounds.push_back(text.size());
    if (chars > max_chars_) {
      out.push_back(unk());
      return;
    }
    std::vector<Token> pieces;
    std::string candidate;
    for (std::size_t start = 0; start < chars;) {
      std::size_t end = chars;
      bool found = false;
      while (start < end) {
        candidate.clear();
        if (start > 0) candidate += prefix_;
        candidate.append(text.substr(bounds[start], bounds[end] - bounds[start]));
        if (auto id = vocab_.find(candidate)) {
          pieces.push_back(Token{*id, candidate});
          found = true;
          break;
        }
        --end;
      }
      if (!found) {
        out.push_back(unk());
        return;
      }
      start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
  }

  std::optional<int64_t> token_to_id(const std::string& token) const override {
    return vocab_.find(token);
  }
  std::optional<std::string> id_to_token(int64_t id) const override { return vocab_.token(id); }
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.ids.size()); }

 private:
  Token unk() const {
    auto id = vocab_.find(unk_token_);
    if (!id)
      throw ConfigError("tokenizer.json: the WordPiece model's unk_token \"" + unk_token_ +
                        "\" is not in its vocabulary");
    return Token{*id, unk_token_};
  }

  Vocab vocab_;
  std::string unk_token_;
  std::string prefix_;
  uint64_t max_chars_ = 100;
};

// Unigram: the segmentation with the best total score (Viterbi over every vocabulary piece that
// matches at each position); characters no piece covers become the unknown token, with
// consecutive unknown characters fused into one.
class UnigramModel : public Model {
 public:
  UnigramModel(const json& j, const Where& w) {
    const json& vocab = list_field(j, "vocab", w);
    if (vocab.empty()) malformed(w.child("vocab"), "the vocabulary is empty");
    pieces_.reserve(vocab.size());
    for (std::size_t i = 0; i < vocab.size(); ++i) {
      const json& e = vocab[i];
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
        malformed(w.child("vocab").index(i), "expected [piece, score], got " + e.dump());
      const double score = e[1].get<double>();
      if (!std::isfinite(score))
        malformed(w.child("vocab").index(i), "score " + e[1].dump() + " is not finite");
      pieces_.push_back({e[0].get<std::string>(), score});
      ids_[pieces_.back().first] = static_cast<int64_t>(i);
      min_score_ = std::min(min_score_, score);
    }
    auto unk = j.find("unk_id");
    if (unk != j.end() && !unk->is_null()) {
      const int64_t id = read_index(*unk, w, "unk_id");
      if (id >= static_cast<int64_t>(pieces_.size()))
        malformed(w, "unk_id " + std::to_string(id) + " is outside the vocabulary (" +
                         std::to_string(pieces_.size()) + " pieces)");
      unk_id_ = id;
    }
    byte_fallback_ = optional_bool(j, "byte_fallback", false, w);
    // A byte trie of the pieces for the common-prefix search.
    nodes_.push_back(-1);
    for (const auto& [piece, id] : ids_) {
      uint32_t node = 0;
      for (unsigned char c : piece) {
        const uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
        auto it = edges_.find(key);
        if (it == edges_.end()) {
          it = edges_.emplace(key, static_cast<uint32_t>(nodes_.size())).first;
          nodes_.push_back(-1);
        }
        node = it->second;
      }
      nodes_[node] = id;
    }
  }

  void tokenize(std::string_view text, std::vector<Token>& out) const override {
    for (const std::string& piece : segment(text)) {
      auto it = ids_.find(piece);
      if (it != ids_.end()) {
        out.push_back(Token{it->second, piece});
        continue;
      }
      if (byte_fallback_) {
        std::vector<Token> bytes;
        for (unsigned char b : piece) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          std::string code = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
          auto id = ids_.find(code);
          if (id == ids_.end()) break;
          bytes.push_back(Token{id->second, std::move(code)});
        }
        if (bytes.size() == piece.size()) {
          out.insert(out.end(), bytes.begin(), bytes.end());
          continue;
        }
      }
      out.push_back(Token{required_unk(), piece});
    }
  }

  std::optional<int64_t> token_to_id(const std::string& token) const override {
    auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> id_to_token(int64_t id) const override {
    if (id < 0 || id >= static_cast<int64_t>(pieces_.size())) return std::nullopt;
    return pieces_[static_cast<std::size_t>(id)].first;
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }

 private:
  static constexpr double kUnkPenalty = 10.0;

  int64_t required_unk() const {
    if (!unk_id_)
      throw ConfigError(
          "tokenizer.json: the Unigram model meets text it has no piece for and has no unk_id");
    return *unk_id_;
  }

  // The Rust library's encode_optimized.
  std::vector<std::string> segment(std::string_view text) const {
    struct Node {
      int64_t id = -1;
      double score = 0.0;
      std::ptrdiff_t starts_at = -1;
    };
    const std::size_t size = text.size();
    std::vector<Node> best(size + 1);
    const double unk_score = min_score_ - kUnkPenalty;
    for (std::size_t start = 0; start < size;) {
      const double base = best[start].score;
      char32_t cp = 0;
      const std::size_t mblen = char_at(text, start, cp);
      bool has_single = false;
      uint32_t node = 0;
      for (std::size_t k = start; k < size; ++k) {
        const uint64_t key =
            (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[k]);
        auto it = edges_.find(key);
        if (it == edges_.end()) break;
        node = it->second;
        const int64_t id = nodes_[node];
        if (id < 0) continue;
        const std::size_t end = k + 1;
        const double candidate = pieces_[static_cast<std::size_t>(id)].second + base;
        Node& target = best[end];
        if (target.starts_at < 0 || candidate > target.score) {
          target = Node{id, candidate, static_cast<std::ptrdiff_t>(start)};
        }
        if (end - start == mblen) has_single = true;
      }
      if (!has_single) {
        Node& target = best[start + mblen];
        const double candidate = unk_score + base;
        if (target.starts_at < 0 || candidate > target.score)
          target = Node{required_unk(), candidate, static_cast<std::ptrdiff_t>(start)};
      }
      start += mblen;
    }
    std::vector<std::string> results;
    std::vector<std::string> fused;  // consecutive unknown pieces, last first
    auto flush = [&] {
      if (fused.empty()) return;
      std::string s;
      for (auto it = fused.rbegin(); it != fused.rend(); ++it) s += *it;
      results.push_back(std::move(s));
      fused.clear();
    };
    for (std::size_t end = size; end > 0;) {
      const Node& node = best[end];
      if (node.starts_at < 0) break;  // unreachable: every character boundary has a best path
      const std::size_t start = static_cast<std::size_t>(node.starts_at);
      std::string piece(text.substr(start, end - start));
      if (unk_id_ && node.id == *unk_id_) {
        fused.push_back(std::move(piece));
      } else {
        flush();
        results.push_back(std::move(piece));
      }
      end = start;
    }
    flush();
    return {results.rbegin(), results.rend()};
  }

  std::vector<std::pair<std::string, double>> pieces_;
  std::unordered_map<std::string, int64_t> ids_;
  std::optional<int64_t> unk_id_;
  bool byte_fallback_ = false;
  double min_score_ = std::numeric_limits<double>::infinity();
  std::vector<int64_t> nodes_;  // node -> piece id, -1 for none
  std::unordered_map<uint64_t, uint32_t> edges_;
};

// The model of tokenizer.json ("type", or guessed from its fields for files written before
// tokenizers 0.10, as TokenizerJson::load does).
inline std::unique_ptr<Model> parse_model(const json& j, const std::string& type, const Where& w) {
  if (type == "BPE") return std::make_unique<BpeModel>(j, w);
  if (type == "WordPiece") return std::make_unique<WordPieceModel>(j, w);
  if (type == "Unigram") return std::make_unique<UnigramModel>(j, w);
  unsupported(w, type, "BPE, WordPiece and Unigram");
}

}  // namespace ved::detail::fast
