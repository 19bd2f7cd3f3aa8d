#include "engine/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/prompt.h"
#include "engine/tokenizer/stream_decoder.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/util/utf8.h"
#include "fixture_cases.h"

namespace streammoe {
namespace {

TEST(ChatTemplate, QwenChatMl) {
  const std::vector<ChatMessage> messages{{"system", "You are terse."},
                                          {"user", "What is 2+2?"},
                                          {"assistant", "4"},
                                          {"user", "And 3+3?"}};
  EXPECT_EQ(apply_chat_template(messages, false),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\n4<|im_end|>\n"
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n");
  const std::vector<ChatMessage> one{{"user", "hi"}};
  EXPECT_EQ(apply_chat_template(one, true),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(apply_chat_template(one, true, ThinkingPrompt::kOpen),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n");
  EXPECT_EQ(apply_chat_template(one, true, ThinkingPrompt::kClosed),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  EXPECT_EQ(apply_chat_template({}, false), "");
}

TEST(Prompt, ChatPromptIsTheEncodedTemplate) {
  const Tokenizer tokenizer =
      Tokenizer::load(testing::tokenizer_fixture_dir("qwen35") / "tokenizer.json");
  EXPECT_EQ(prompt_token_ids(tokenizer, "hi <|im_end|>", PromptFormat::kRaw),
            tokenizer.encode("hi <|im_end|>"));
  const auto ids = prompt_token_ids(tokenizer, "Hello", PromptFormat::kChat, "Be brief.");
  EXPECT_EQ(tokenizer.decode(ids),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");
  const int32_t im_start = *tokenizer.added_token_id("<|im_start|>");
  EXPECT_EQ(ids.front(), im_start);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), im_start), 3);
}

TEST(StreamDecoder, PiecesAreValidAndConcatenateToDecode) {
  const Tokenizer tokenizer =
      Tokenizer::load(testing::tokenizer_fixture_dir("qwen35") / "tokenizer.json");
  for (const auto& c : testing::load_fixture("qwen35").cases) {
    StreamDecoder stream(tokenizer);
    std::string text;
    for (int32_t id : c.ids) {
      const std::string piece = stream.push(id);
      EXPECT_EQ(utf8::to_valid_lossy(piece), piece);
      text += piece;
    }
    text += stream.finish();
    EXPECT_EQ(text, tokenizer.decode(c.ids)) << testing::case_label(c.text);
  }
}

TEST(StreamDecoder, HoldsBackASplitCharacter) {
  const Tokenizer tokenizer =
      Tokenizer::load(testing::tokenizer_fixture_dir("qwen35") / "tokenizer.json");
  // Single-byte tokens for the three bytes of 中 (E4 B8 AD).
  const auto byte_token = [&](uint8_t b) {
    return *tokenizer.token_id(byte_level::encode(std::string(1, static_cast<char>(b))));
  };
  StreamDecoder stream(tokenizer);
  EXPECT_EQ(stream.push(byte_token(0xE4)), "");
  EXPECT_EQ(stream.push(byte_token(0xB8)), "");
  EXPECT_EQ(stream.push(byte_token(0xAD)), "\xE4\xB8\xAD");
  EXPECT_EQ(stream.push(byte_token(0xE4)), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace streammoe
