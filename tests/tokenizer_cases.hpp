#pragma once

// Every case of a tokenizer fixture's expected.json (tests/data/fixtures/tokenizers/<name>):
// tokenize, encode with and without special tokens, and the three decodes.

#include <gtest/gtest.h>

#include "ved/detail/json.hpp"
#include "ved/processing/tokenizer.hpp"

namespace ved::test {

inline void expect_tokenizer_matches_fixture(const Tokenizer& tok, const detail::json& expected) {
  ASSERT_EQ(expected["cases"].size(), 40u);
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

}  // namespace ved::test
