#pragma once

// Every case of a tokenizer fixture's expected.json (tests/data/fixtures/tokenizers/<name>):
// tokenize, encode with and without special tokens, and the three decodes.

#include <gtest/gtest.h>

#include "ved/detail/json.hpp"
#include "ved/processing/tokenizer.hpp"

namespace ved::test {

// `cases`: how many the fixture holds (the slow tokenizer fixtures have 40).
inline void expect_tokenizer_matches_fixture(const Tokenizer& tok, const detail::json& expected,
                                             size_t cases = 40) {
  ASSERT_EQ(expected["cases"].size(), cases);
  for (const detail::json& c : expected["cases"]) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(tok.tokenize(text), c["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(tok.encode(text, false), c["ids"].get<std::vector<int64_t>>());
    const auto ids = c["ids_with_special"].get<std::vector<int64_t>>();
    EXPECT_EQ(tok.encode(text, true), ids);
    const bool cleanup = tok.clean_up_tokenization_spaces();
    EXPECT_EQ(tok.decode(ids, true), c["decode_skip_special"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, true, cleanup), c["decode_skip_special"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, false), c["decode_keep_special"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, true, !cleanup),
              c["decode_skip_special_flipped_cleanup"].get<std::string>());
  }
}

// The fixture's `decode_cases`: id lists that encode() never produces.
inline void expect_decode_cases_match_fixture(const Tokenizer& tok, const detail::json& expected,
                                              size_t cases) {
  const bool cleanup = tok.clean_up_tokenization_spaces();
  ASSERT_EQ(expected["decode_cases"].size(), cases);
  for (const detail::json& c : expected["decode_cases"]) {
    const auto ids = c["ids"].get<std::vector<int64_t>>();
    SCOPED_TRACE("ids: " + c["ids"].dump());
    std::vector<std::string> tokens;
    for (int64_t id : ids) tokens.push_back(tok.id_to_token(id).value_or("<none>"));
    EXPECT_EQ(tokens, c["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(tok.decode(ids, true), c["decode_skip_special"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, false), c["decode_keep_special"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, true, !cleanup),
              c["decode_skip_special_flipped_cleanup"].get<std::string>());
  }
}

}  // namespace ved::test
