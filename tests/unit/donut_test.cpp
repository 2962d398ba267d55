// ved::donut_token2json against transformers' DonutProcessor.token2json. Each expected value was
// worked out by hand by following the Python function (processing_donut.py) step by step; the
// comments give the steps that decide the result.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ved/processing/donut.hpp"

namespace ved {
namespace {

using ojson = nlohmann::ordered_json;

std::string to_json(const std::string& tokens, const std::set<std::string>& added = {}) {
  return donut_token2json(tokens, [&](const std::string& s) { return added.count(s) > 0; }).dump();
}

TEST(DonutToken2Json, NestedGroupsSeparatedBySep) {
  // <s_menu>'s content holds <s_ and </s_, so it recurses; after </s_price> the rest starts with
  // <sep/>, which returns [{nm, price}] + token2json("<s_nm>Tea</s_nm>") = two groups.
  EXPECT_EQ(to_json("<s_menu><s_nm>Latte</s_nm><s_price>4.50</s_price><sep/><s_nm>Tea</s_nm>"
                    "</s_menu>"),
            R"({"menu":[{"nm":"Latte","price":"4.50"},{"nm":"Tea"}]})");
}

TEST(DonutToken2Json, SingleGroupIsUnwrapped) {
  // The inner call returns [{"nm": "Latte"}]; a one-element list becomes its element.
  EXPECT_EQ(to_json("<s_menu><s_nm>Latte</s_nm></s_menu>"), R"({"menu":{"nm":"Latte"}})");
}

TEST(DonutToken2Json, LeavesSplitOnSepAndStripped) {
  // Leaves are stripped; "<yes/>" is an added token of the form <.../>, so it becomes "yes".
  EXPECT_EQ(to_json("<s_nm>a<sep/> b <sep/><yes/></s_nm>", {"<yes/>"}),
            R"({"nm":["a","b","yes"]})");
  // Not in the added vocabulary: kept as text.
  EXPECT_EQ(to_json("<s_nm>a<sep/> b <sep/><yes/></s_nm>"), R"({"nm":["a","b","<yes/>"]})");
  // An empty leaf is kept (and never looked up: "" is not in added_vocab).
  EXPECT_EQ(to_json("<s_nm></s_nm>"), R"({"nm":""})");
}

TEST(DonutToken2Json, KeysKeepGenerationOrder) {
  EXPECT_EQ(to_json("<s_z>1</s_z> <s_a>2</s_a>"), R"({"z":"1","a":"2"})");
}

TEST(DonutToken2Json, PlainTextIsATextSequence) {
  EXPECT_EQ(to_json("hello world"), R"({"text_sequence":"hello world"})");
  EXPECT_EQ(to_json(""), R"({"text_sequence":""})");
}

TEST(DonutToken2Json, UnclosedTagIsRemoved) {
  // No </s_a>: every "<s_a>" is replaced by "", then <s_b> is parsed normally.
  EXPECT_EQ(to_json("<s_a>x<s_b>y</s_b>"), R"({"b":"y"})");
  // Nothing parsed: the remaining text is the text_sequence, the tag gone.
  EXPECT_EQ(to_json("<s_a>x"), R"({"text_sequence":"x"})");
}

TEST(DonutToken2Json, TagsMatchIgnoringCase) {
  // The end tag is searched with re.IGNORECASE; the key keeps the start tag's spelling.
  EXPECT_EQ(to_json("<s_Key>v</S_KEY>"), R"({"Key":"v"})");
}

TEST(DonutToken2Json, TopLevelSepGivesAList) {
  // After the first group the rest starts with <sep/>: Python returns a list even at top level.
  EXPECT_EQ(to_json("<s_a>1</s_a><sep/><s_a>2</s_a>"), R"([{"a":"1"},{"a":"2"}])");
}

TEST(DonutToken2Json, ContentWithOnlyAStartTagIsALeaf) {
  // "<s_b>" holds "<s_" but no "</s_": a leaf, kept verbatim.
  EXPECT_EQ(to_json("<s_a><s_b></s_a>"), R"({"a":"<s_b>"})");
}

TEST(DonutToken2Json, EmptyInnerValueDropsTheKey) {
  // Inner call on "<s_b>x</s_c>": <s_b> has no end, is removed, nothing is left to parse -> [].
  // An empty value is not stored, so the outer object stays empty and the remaining text (""
  // after </s_a>) is the text_sequence.
  EXPECT_EQ(to_json("<s_a><s_b>x</s_c></s_a>"), R"({"text_sequence":""})");
}

TEST(DonutToken2Json, TagNamesDoNotCrossNewlines) {
  // r"<s_(.*?)>" without DOTALL: "<s_a\nb>" is no tag.
  EXPECT_EQ(to_json("<s_a\nb>x"), ojson({{"text_sequence", "<s_a\nb>x"}}).dump());
}

TEST(DonutToken2Json, RepeatedKeyKeepsFirstPositionLastValue) {
  // Python dict assignment: the second "a" overwrites the value in place.
  EXPECT_EQ(to_json("<s_a>1</s_a><s_b>2</s_b><s_a>3</s_a>"), R"({"a":"3","b":"2"})");
}

}  // namespace
}  // namespace ved
