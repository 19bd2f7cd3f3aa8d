// The tokenizer shipped with models/tiny-qwen35moe against the ids Hugging Face produced for it
// (tests/fixtures/reference/tiny-qwen35moe: tokenizer cases and the reference prompts).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/tokenizer.h"
#include "fixture_cases.h"

namespace streammoe {
namespace {

const std::filesystem::path kSource(STREAMMOE_SOURCE_DIR);

nlohmann::json reference(const char* name) {
  return nlohmann::json::parse(
      testing::read_text_file(kSource / "tests/fixtures/reference/tiny-qwen35moe" / name));
}

Tokenizer tiny_tokenizer() {
  return Tokenizer::load(kSource / "models/tiny-qwen35moe/tokenizer.json");
}

TEST(TinyModelTokenizer, CasesMatchHuggingFace) {
  const Tokenizer tokenizer = tiny_tokenizer();
  const auto cases = reference("tokenizer_cases.json")["cases"];
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tokenizer.encode(text), ids) << testing::case_label(text);
    EXPECT_EQ(tokenizer.decode(ids), c["decoded"].get<std::string>()) << testing::case_label(text);
  }
}

TEST(TinyModelTokenizer, ReferencePromptsAndGreedyText) {
  const Tokenizer tokenizer = tiny_tokenizer();
  const auto prompts = reference("prompts.json")["prompts"];
  ASSERT_GE(prompts.size(), 1u);
  for (const auto& p : prompts) {
    const std::string text = p["text"].get<std::string>();
    EXPECT_EQ(tokenizer.encode(text), p["prompt_ids"].get<std::vector<int32_t>>())
        << testing::case_label(text);
    EXPECT_EQ(tokenizer.decode(p["greedy_ids"].get<std::vector<int32_t>>()),
              p["greedy_text"].get<std::string>())
        << p["name"];
  }
}

TEST(TinyModelTokenizer, SpecialTokensFromTokenizerConfig) {
  const Tokenizer tokenizer = tiny_tokenizer();
  EXPECT_EQ(tokenizer.vocab_size(), 6144);
  EXPECT_EQ(tokenizer.special_token_ids().eos, tokenizer.added_token_id("<|endoftext|>"));
  EXPECT_EQ(tokenizer.special_token_ids().pad, tokenizer.added_token_id("<|endoftext|>"));
  EXPECT_EQ(tokenizer.special_token_ids().bos, std::nullopt);
}

}  // namespace
}  // namespace streammoe
