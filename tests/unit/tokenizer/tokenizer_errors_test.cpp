// A bad tokenizer.json is refused with one Error whose message names the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/tokenizer/tokenizer.h"
#include "engine/util/error.h"
#include "fixture_cases.h"

namespace streammoe {
namespace {

class TokenizerErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("streammoe_tokenizer_errors_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    good_ = nlohmann::json::parse(
        testing::read_text_file(testing::tokenizer_fixture_dir("qwen35") / "tokenizer.json"));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& text) {
    const auto path = dir_ / "tokenizer.json";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Loads `text` and returns the error message (fails the test if no Error is thrown).
  std::string load_error(const std::string& text) {
    const auto path = write(text);
    try {
      Tokenizer::load(path);
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path.string()), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      return message;
    }
    ADD_FAILURE() << "no error for " << text.substr(0, 200);
    return "";
  }

  std::filesystem::path dir_;
  nlohmann::json good_;
};

TEST_F(TokenizerErrors, GoodFileLoads) { EXPECT_NO_THROW(Tokenizer::load(write(good_.dump()))); }

TEST_F(TokenizerErrors, MissingFile) {
  EXPECT_THROW(Tokenizer::load(dir_ / "absent.json"), Error);
  try {
    Tokenizer::load(dir_ / "absent.json");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.json"), std::string::npos);
  }
}

TEST_F(TokenizerErrors, MalformedJson) {
  EXPECT_NE(load_error("{\"model\": ").find("malformed JSON"), std::string::npos);
  EXPECT_NE(load_error("").find("malformed JSON"), std::string::npos);
  EXPECT_NE(load_error("[1, 2]").find("not a JSON object"), std::string::npos);
}

TEST_F(TokenizerErrors, MissingModel) {
  auto spec = good_;
  spec.erase("model");
  EXPECT_NE(load_error(spec.dump()).find("no \"model\""), std::string::npos);
  spec = good_;
  spec["model"].erase("vocab");
  EXPECT_NE(load_error(spec.dump()).find("vocab"), std::string::npos);
  spec = good_;
  spec["model"]["type"] = "WordPiece";
  EXPECT_NE(load_error(spec.dump()).find("WordPiece"), std::string::npos);
}

TEST_F(TokenizerErrors, UnknownPattern) {
  auto spec = good_;
  spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\p{L}+|\\p{N}{1,3}";
  EXPECT_NE(load_error(spec.dump()).find("unknown pre-tokenizer split regex"), std::string::npos);
  spec = good_;
  spec["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"String", " "}};
  EXPECT_NE(load_error(spec.dump()).find("unknown pre-tokenizer split pattern"), std::string::npos);
}

TEST_F(TokenizerErrors, UnsupportedSettings) {
  auto spec = good_;
  spec["normalizer"] = {{"type", "NFKC"}};
  EXPECT_NE(load_error(spec.dump()).find("NFKC"), std::string::npos);
  spec = good_;
  spec["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
  EXPECT_NE(load_error(spec.dump()).find("add_prefix_space"), std::string::npos);
  spec = good_;
  spec["pre_tokenizer"] = nullptr;
  EXPECT_NE(load_error(spec.dump()).find("ByteLevel"), std::string::npos);
  spec = good_;
  spec["decoder"] = {{"type", "WordPiece"}};
  EXPECT_NE(load_error(spec.dump()).find("decoder"), std::string::npos);
  spec = good_;
  spec["added_tokens"][0]["single_word"] = true;
  EXPECT_NE(load_error(spec.dump()).find("single_word"), std::string::npos);
}

TEST_F(TokenizerErrors, BadMerges) {
  auto spec = good_;
  spec["model"]["merges"].push_back(nlohmann::json::array({"no-such-token", "x"}));
  EXPECT_NE(load_error(spec.dump()).find("no-such-token"), std::string::npos);
  spec = good_;
  spec["model"]["merges"].push_back("a b c");
  EXPECT_NE(load_error(spec.dump()).find("'a b c'"), std::string::npos);
  spec = good_;
  spec["model"]["merges"] = 5;
  EXPECT_NE(load_error(spec.dump()).find("merges"), std::string::npos);
}

TEST_F(TokenizerErrors, WrongJsonTypes) {
  auto spec = good_;
  spec["model"]["vocab"][spec["model"]["vocab"].begin().key()] = "not a number";
  EXPECT_NE(load_error(spec.dump()).find("integer id"), std::string::npos);
  spec = good_;
  spec["added_tokens"][0]["content"] = 7;
  load_error(spec.dump());
}

// Ids are read as written and bounded by the tokens the file defines (review findings 6 and 9:
// 2^40 was reported as "vocab id 0 is given to two tokens", an added id of 1e9 ended in bad_alloc).
TEST_F(TokenizerErrors, IdsBeyondTheVocabularyAreNamed) {
  auto spec = good_;
  spec["model"]["vocab"]["Ġthe"] = 1099511627776;
  EXPECT_NE(load_error(spec.dump()).find("vocab token 'Ġthe' has id 1099511627776, beyond any vocabulary"),
            std::string::npos);
  spec = good_;
  spec["model"]["vocab"]["Ġthe"] = 1000000000;
  EXPECT_NE(load_error(spec.dump()).find("vocab token 'Ġthe' has id 1000000000, beyond the"), std::string::npos);
  spec = good_;
  spec["model"]["vocab"]["Ġthe"] = -1;
  EXPECT_NE(load_error(spec.dump()).find("vocab token 'Ġthe' has negative id -1"), std::string::npos);
  spec = good_;
  spec["added_tokens"].push_back({{"id", 1000000000}, {"content", "<|x|>"}, {"special", true}});
  EXPECT_NE(load_error(spec.dump()).find("added token '<|x|>' has id 1000000000, beyond the"), std::string::npos);
  spec = good_;
  spec["added_tokens"].push_back({{"id", 18446744073709551615ull}, {"content", "<|y|>"}, {"special", true}});
  EXPECT_NE(load_error(spec.dump()).find("added token '<|y|>' has id 18446744073709551615, beyond any vocabulary"),
            std::string::npos);
  spec = good_;
  spec["added_tokens"][0]["id"] = -3;
  EXPECT_NE(load_error(spec.dump()).find("has negative id -3"), std::string::npos);
  spec = good_;  // a small gap above the vocabulary is fine
  const int64_t next = static_cast<int64_t>(spec["model"]["vocab"].size() + spec["added_tokens"].size());
  spec["added_tokens"].push_back({{"id", next + 100}, {"content", "<|gap|>"}, {"special", true}});
  EXPECT_NO_THROW(Tokenizer::load(write(spec.dump())));
}

TEST_F(TokenizerErrors, BadTokenizerConfig) {
  write(good_.dump());
  std::ofstream(dir_ / "tokenizer_config.json") << R"({"eos_token": "<|no_such|>"})";
  try {
    Tokenizer::load(dir_ / "tokenizer.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace streammoe
