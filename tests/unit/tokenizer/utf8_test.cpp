#include "engine/util/utf8.h"

#include <gtest/gtest.h>

#include "engine/tokenizer/byte_level.h"

namespace streammoe {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

// Expected values follow Rust's String::from_utf8_lossy (one U+FFFD per maximal subpart).
TEST(Utf8, LossyReplacesMaximalSubparts) {
  EXPECT_EQ(utf8::to_valid_lossy("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(utf8::to_valid_lossy("\xE4\xB8"), kReplacement);  // truncated 中
  EXPECT_EQ(utf8::to_valid_lossy("\xE4\xB8x"), kReplacement + "x");
  EXPECT_EQ(utf8::to_valid_lossy("\x80\x80"), kReplacement + kReplacement);
  EXPECT_EQ(utf8::to_valid_lossy("\xC0\xAF"), kReplacement + kReplacement);  // overlong
  EXPECT_EQ(utf8::to_valid_lossy("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(utf8::to_valid_lossy("\xF0\x9F\x98"), kReplacement);  // truncated emoji
  EXPECT_EQ(utf8::to_valid_lossy("\xF4\x90\x80\x80"),             // above U+10FFFF
            kReplacement + kReplacement + kReplacement + kReplacement);
}

TEST(Utf8, CompletePrefixHoldsBackOnlyUnfinishedSequences) {
  EXPECT_EQ(utf8::complete_prefix_length("abc"), 3u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xE4\xB8"), 1u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xE4\xB8\xAD"), 4u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xF0\x9F\x98"), 1u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xFF"), 2u);  // invalid, not unfinished
}

TEST(Utf8, PrintableLineEscapesWhatWouldBreakTheLine) {
  EXPECT_EQ(utf8::printable_line("plain caf\xc3\xa9"), "plain caf\xc3\xa9");  // valid UTF-8 kept
  EXPECT_EQ(utf8::printable_line("a\nb"), "a\\nb");
  EXPECT_EQ(utf8::printable_line("tab\there"), "tab\\x09here");
  EXPECT_EQ(utf8::printable_line("bad \xff byte"), "bad \\xff byte");
  EXPECT_EQ(utf8::printable_line(std::string_view("nul\0end", 7)), "nul\\x00end");
}

TEST(ByteLevel, Gpt2Alphabet) {
  EXPECT_EQ(byte_level::char_of_byte(' '), 0x120u);   // Ġ
  EXPECT_EQ(byte_level::char_of_byte('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(byte_level::char_of_byte('a'), static_cast<char32_t>('a'));
  EXPECT_EQ(byte_level::char_of_byte(0xAD), 0x143u);  // soft hyphen is not printable
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(byte_level::byte_of_char(byte_level::char_of_byte(static_cast<uint8_t>(b))), b);
  }
  EXPECT_EQ(byte_level::encode(" hi\n"), "\xC4\xA0hi\xC4\x8A");
  std::string out;
  byte_level::append_decoded("\xC4\xA0hi", out);
  EXPECT_EQ(out, " hi");
  out.clear();
  byte_level::append_decoded("a b", out);  // ' ' is outside the alphabet: kept as it is
  EXPECT_EQ(out, "a b");
}

}  // namespace
}  // namespace streammoe
