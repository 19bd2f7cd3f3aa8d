#include "engine/tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixture_cases.h"

namespace streammoe {
namespace {

std::vector<std::string> split(std::string_view text, SplitPattern pattern) {
  std::vector<std::string_view> pieces;
  split_pieces(text, pattern, pieces);
  return {pieces.begin(), pieces.end()};
}

using Pieces = std::vector<std::string>;

TEST(Pretokenizer, PiecesMatchHuggingFaceOnEveryFixtureText) {
  for (const auto& [variant, pattern] :
       {std::pair{"qwen35", SplitPattern::kQwen35}, std::pair{"qwen3", SplitPattern::kQwen2},
        std::pair{"gpt2", SplitPattern::kGpt2}}) {
    for (const auto& c : testing::load_fixture(variant).cases) {
      EXPECT_EQ(split(c.text, pattern), c.pieces) << variant << " " << testing::case_label(c.text);
    }
  }
}

// Hand-checked against the regex alternatives (leftmost alternative wins, backtracking).
TEST(Pretokenizer, QwenAlternatives) {
  const auto q = SplitPattern::kQwen2;
  EXPECT_EQ(split("", q), Pieces{});
  EXPECT_EQ(split("I'LL go", q), (Pieces{"I", "'LL", " go"}));    // (?i:'ll)
  EXPECT_EQ(split("'sa", q), (Pieces{"'s", "a"}));                // contraction first
  EXPECT_EQ(split("2024", q), (Pieces{"2", "0", "2", "4"}));      // \p{N}, one digit
  EXPECT_EQ(split("x  y", q), (Pieces{"x", " ", " y"}));          // \s+(?!\S) keeps one
  EXPECT_EQ(split("a \n\n b", q), (Pieces{"a", " \n\n", " b"}));  // \s*[\r\n]+
  EXPECT_EQ(split("a)\n\nb", q), (Pieces{"a", ")\n\n", "b"}));    // punct + [\r\n]*
  EXPECT_EQ(split("end  ", q), (Pieces{"end", "  "}));            // \s+ at the end
  EXPECT_EQ(split("\thello", q), (Pieces{"\thello"}));            // [^\r\n\p{L}\p{N}]?
  EXPECT_EQ(split("\nhello", q), (Pieces{"\n", "hello"}));
}

TEST(Pretokenizer, MarksJoinLettersOnlyInQwen35) {
  const std::string word = "e\xCC\x81t\xC3\xA9";  // e + U+0301 + t + é
  EXPECT_EQ(split(word, SplitPattern::kQwen35), Pieces{word});
  EXPECT_EQ(split(word, SplitPattern::kQwen2), (Pieces{"e", "\xCC\x81t\xC3\xA9"}));
}

TEST(Pretokenizer, KnowsExactlyTheThreePatternStrings) {
  for (SplitPattern p : {SplitPattern::kQwen2, SplitPattern::kQwen35, SplitPattern::kGpt2}) {
    EXPECT_EQ(split_pattern_from_regex(split_pattern_regex(p)), p);
  }
  std::string altered(split_pattern_regex(SplitPattern::kQwen2));
  altered.replace(altered.find("\\p{N}|"), 6, "\\p{N}{1,3}|");  // Llama 3's digit groups
  EXPECT_EQ(split_pattern_from_regex(altered), std::nullopt);
  EXPECT_EQ(split_pattern_from_regex(""), std::nullopt);
}

}  // namespace
}  // namespace streammoe
