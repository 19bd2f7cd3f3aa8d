#include "engine/tokenizer/nfc.h"

#include <gtest/gtest.h>

#include "engine/tokenizer/unicode.h"
#include "fixture_cases.h"

namespace streammoe {
namespace {

TEST(Nfc, MatchesHuggingFaceOnEveryFixtureText) {
  for (const auto& c : testing::load_fixture("qwen35").cases) {
    EXPECT_EQ(nfc(c.text), c.normalized) << testing::case_label(c.text);
  }
}

// Expected values from Python's unicodedata.normalize("NFC", ...).
TEST(Nfc, HandCheckedCases) {
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(nfc("cafe\xCC\x81"), "caf\xC3\xA9");  // e + acute -> é
  EXPECT_EQ(nfc("caf\xC3\xA9"), "caf\xC3\xA9");   // already composed
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");     // Å sign -> Å (singleton)
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // jamo -> 각
  // a + acute (230) + ogonek (202): reordered to ogonek first, then ą + acute stays apart.
  EXPECT_EQ(nfc("a\xCC\x81\xCC\xA8"), "\xC4\x85\xCC\x81");
  EXPECT_EQ(nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");  // क़: composition exclusion
  EXPECT_EQ(nfc("\xCC\x81"
                "a"),
            "\xCC\x81"
            "a");  // leading mark stays
}

TEST(Nfc, CategoryTablesAgreeWithUnicode) {
  using namespace unicode;
  EXPECT_EQ(category_flags('a'), kLetter);
  EXPECT_EQ(category_flags('7'), kNumber);
  EXPECT_EQ(category_flags(' '), kWhitespace);
  EXPECT_EQ(category_flags(0x1C), 0);  // not \s in Oniguruma (Python's isspace says yes)
  EXPECT_EQ(category_flags(0x85), kWhitespace);
  EXPECT_EQ(category_flags(0x3000), kWhitespace);
  EXPECT_EQ(category_flags(0x200B), 0);  // zero-width space is Cf
  EXPECT_EQ(category_flags(0x0301), kMark);
  EXPECT_EQ(category_flags(0x4E2D), kLetter);  // 中
  EXPECT_EQ(category_flags(0x2167), kNumber);  // Ⅷ (Nl)
  EXPECT_EQ(category_flags(0x1F600), 0);       // emoji: So
  EXPECT_EQ(combining_class(0x0301), 230);
  EXPECT_EQ(combining_class(0x0328), 202);
  EXPECT_EQ(combining_class('a'), 0);
}

}  // namespace
}  // namespace streammoe
