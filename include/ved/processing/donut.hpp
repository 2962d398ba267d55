#pragma once

// Donut's output format: the decoder writes JSON as a tag sequence,
//   <s_menu><s_nm>Latte</s_nm><s_price>4.50</s_price><sep/><s_nm>Tea</s_nm></s_menu>
// and token2json turns it back into {"menu": [{"nm": "Latte", "price": "4.50"}, {"nm": "Tea"}]}.
//
// This is transformers' DonutProcessor.token2json (models/donut/processing_donut.py), the same
// regular-expression walk step for step, so malformed sequences give the same (partial) result
// as in Python. Tag names are matched case-insensitively for ASCII letters only (Python's
// re.IGNORECASE also folds other scripts; Donut's keys are ASCII).
//
// donut_sequence_to_json() does the whole post-processing of Donut's model cards:
//   seq = processor.batch_decode(outputs.sequences)[0]
//   seq = seq.replace(eos_token, "").replace(pad_token, "")
//   seq = re.sub(r"<.*?>", "", seq, count=1).strip()   # the task start token
//   processor.token2json(seq)

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ved/detail/unicode.hpp"
#include "ved/processing/tokenizer.hpp"

namespace ved {

namespace detail {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

// First position >= from where `needle` occurs, ignoring ASCII case (std::string::npos if none).
inline size_t ifind(std::string_view hay, std::string_view needle, size_t from = 0) {
  if (needle.size() > hay.size()) return std::string::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && ascii_lower(hay[i + k]) == ascii_lower(needle[k])) ++k;
    if (k == needle.size()) return i;
  }
  return std::string::npos;
}

// Python's str.strip().
inline std::string python_strip(std::string_view s) {
  return python_rstrip(python_lstrip(s));
}

struct DonutTag {
  size_t pos;       // where "<s_" starts
  std::string key;  // between "<s_" and ">"
  size_t size;      // length of the whole tag
};

// re.search(r"<s_(.*?)>", tokens, re.IGNORECASE): '.' stops at newlines.
inline std::optional<DonutTag> find_start_tag(std::string_view s) {
  for (size_t pos = ifind(s, "<s_"); pos != std::string::npos; pos = ifind(s, "<s_", pos + 1)) {
    const size_t close = s.find_first_of(">\n", pos + 3);
    if (close != std::string::npos && s[close] == '>')
      return DonutTag{pos, std::string(s.substr(pos + 3, close - pos - 3)), close - pos + 1};
  }
  return std::nullopt;
}

// Returns either an object or a list, as the Python function does.
inline nlohmann::ordered_json token2json_impl(
    std::string tokens, bool is_inner_value, const std::function<bool(const std::string&)>& added) {
  using ojson = nlohmann::ordered_json;
  ojson output = ojson::object();
  while (!tokens.empty()) {
    const std::optional<DonutTag> start = find_start_tag(tokens);
    if (!start) break;
    const std::string start_token = tokens.substr(start->pos, start->size);
    const size_t end_pos = ifind(tokens, "</s_" + start->key + ">");
    if (end_pos == std::string::npos) {
      replace_all(tokens, start_token, "");  // tokenizer.hpp
      continue;
    }
    const std::string end_token = tokens.substr(end_pos, start->key.size() + 5);
    // re.search(f"{start}(.*?){end}", tokens, IGNORECASE | DOTALL): the leftmost start that has
    // an end after it; a later start cannot have one if the leftmost has none.
    const size_t content_start = ifind(tokens, start_token);
    const size_t content_end = content_start == std::string::npos
                                   ? std::string::npos
                                   : ifind(tokens, end_token, content_start + start_token.size());
    if (content_end != std::string::npos) {
      const size_t from = content_start + start_token.size();
      const std::string content =
          python_strip(std::string_view(tokens).substr(from, content_end - from));
      if (content.find("<s_") != std::string::npos && content.find("</s_") != std::string::npos) {
        ojson value = token2json_impl(content, /*is_inner_value=*/true, added);
        if (!value.empty()) {
          if (value.size() == 1) value = ojson(value[0]);
          output[start->key] = std::move(value);
        }
      } else {
        ojson leaves = ojson::array();
        size_t pos = 0;
        while (true) {
          const size_t sep = content.find("<sep/>", pos);
          std::string leaf = python_strip(std::string_view(content).substr(
              pos, sep == std::string::npos ? std::string::npos : sep - pos));
          // Categorical values are special tokens such as <yes/>: keep the name.
          if (!leaf.empty() && added && added(leaf) && leaf.front() == '<' && leaf.size() >= 2 &&
              leaf.compare(leaf.size() - 2, 2, "/>") == 0)
            leaf = leaf.substr(1, leaf.size() - 3);
          leaves.push_back(leaf);
          if (sep == std::string::npos) break;
          pos = sep + 6;
        }
        output[start->key] = leaves.size() == 1 ? ojson(leaves[0]) : std::move(leaves);
      }
    }
    tokens =
        python_strip(std::string_view(tokens).substr(tokens.find(end_token) + end_token.size()));
    if (tokens.compare(0, 6, "<sep/>") == 0) {
      ojson rest = token2json_impl(tokens.substr(6), /*is_inner_value=*/true, added);
      ojson list = ojson::array({output});
      for (auto& item : rest) list.push_back(std::move(item));
      return list;
    }
  }
  if (!output.empty()) return is_inner_value ? ojson::array({output}) : output;
  return is_inner_value ? ojson::array() : ojson{{"text_sequence", tokens}};
}

}  // namespace detail

// transformers' DonutProcessor.token2json. `is_added_token` answers `leaf in
// tokenizer.get_added_vocab()`, which decides whether a leaf such as "<yes/>" is a categorical
// special token (reported as "yes"); without it no leaf is. The result is an object, or a list
// when the top level holds <sep/>-separated groups, in generation order.
inline nlohmann::ordered_json donut_token2json(
    const std::string& tokens, const std::function<bool(const std::string&)>& is_added_token = {}) {
  return detail::token2json_impl(tokens, /*is_inner_value=*/false, is_added_token);
}

// The steps of Donut's model cards from generated ids to JSON (see the top of this file):
// decode keeping special tokens, drop eos and pad, drop the first tag (the task prompt), then
// token2json. `leaf in get_added_vocab()` is approximated by "the leaf is one whole token of
// the vocabulary": Donut's categorical values (<yes/>) are, ordinary text pieces never look
// like <name/>.
inline nlohmann::ordered_json donut_sequence_to_json(const Tokenizer& tokenizer,
                                                     const std::vector<int64_t>& sequence,
                                                     const std::string& eos_token,
                                                     const std::string& pad_token) {
  std::string seq = tokenizer.decode(sequence, /*skip_special_tokens=*/false);
  if (!eos_token.empty()) detail::replace_all(seq, eos_token, "");
  if (!pad_token.empty()) detail::replace_all(seq, pad_token, "");
  // re.sub(r"<.*?>", "", seq, count=1): '.' does not cross a newline.
  for (size_t open = seq.find('<'); open != std::string::npos; open = seq.find('<', open + 1)) {
    const size_t close = seq.find_first_of(">\n", open + 1);
    if (close != std::string::npos && seq[close] == '>') {
      seq.erase(open, close - open + 1);
      break;
    }
  }
  return donut_token2json(detail::python_strip(seq), [&](const std::string& leaf) {
    return tokenizer.token_to_id(leaf).has_value();
  });
}

}  // namespace ved
