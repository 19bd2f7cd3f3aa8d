#pragma once
// Reads tests/fixtures/tokenizer/<variant>/cases.json (made by tools/make_tokenizer_fixtures.py
// with Hugging Face tokenizers).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace streammoe::testing {

inline std::filesystem::path tokenizer_fixture_dir(const std::string& variant) {
  return std::filesystem::path(STREAMMOE_SOURCE_DIR) / "tests/fixtures/tokenizer" / variant;
}

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct FixtureCase {
  std::string text;
  std::vector<int32_t> ids;
  std::optional<std::vector<int32_t>> ids_no_special;
  std::string decoded;
  std::string normalized;
  std::vector<std::string> pieces;
};

struct FixtureDecode {
  std::vector<int32_t> ids;
  std::string decoded;
};

struct Fixture {
  int32_t vocab_size = 0;
  std::vector<FixtureCase> cases;
  std::vector<FixtureDecode> decodes;
};

inline Fixture load_fixture(const std::string& variant) {
  const auto json =
      nlohmann::json::parse(read_text_file(tokenizer_fixture_dir(variant) / "cases.json"));
  Fixture fixture;
  fixture.vocab_size = json["vocab_size"].get<int32_t>();
  for (const auto& c : json["cases"]) {
    FixtureCase fc;
    fc.text = c["text"].get<std::string>();
    fc.ids = c["ids"].get<std::vector<int32_t>>();
    if (c.contains("ids_no_special"))
      fc.ids_no_special = c["ids_no_special"].get<std::vector<int32_t>>();
    fc.decoded = c["decoded"].get<std::string>();
    fc.normalized = c["normalized"].get<std::string>();
    fc.pieces = c["pieces"].get<std::vector<std::string>>();
    fixture.cases.push_back(std::move(fc));
  }
  for (const auto& d : json["decodes"]) {
    fixture.decodes.push_back(
        {d["ids"].get<std::vector<int32_t>>(), d["decoded"].get<std::string>()});
  }
  return fixture;
}

// A short printable name for a case, for failure messages.
inline std::string case_label(const std::string& text) {
  std::string label = nlohmann::json(text.substr(0, 60))
                          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return label + (text.size() > 60 ? "..." : "");
}

}  // namespace streammoe::testing
