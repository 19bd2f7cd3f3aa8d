#include "engine/tokenizer/tokenizer_json.h"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "engine/util/error.h"

namespace streammoe {

namespace {

using nlohmann::json;

std::string type_of(const json& node);

// The steps of a normalizer or pre-tokenizer: a Sequence's list, or the node itself.
std::vector<const json*> steps_of(const json& node, const char* list_key) {
  if (type_of(node) != "Sequence") return {&node};
  std::vector<const json*> steps;
  auto it = node.find(list_key);
  if (it != node.end() && it->is_array()) {
    for (const json& step : *it) steps.push_back(&step);
  }
  return steps;
}

std::string type_of(const json& node) {
  if (!node.is_object()) return "(not an object)";
  auto it = node.find("type");
  return it != node.end() && it->is_string() ? it->get<std::string>() : "(no type)";
}

// Token ids index arrays sized by the largest id, so an id is bounded by the tokens the file
// defines: a vocabulary may leave gaps, but not gaps larger than this.
constexpr int64_t kMaxIdGap = 1 << 16;

// A token id as written (2^40 stays 2^40, not a wrapped int32); `what` names it in messages.
int64_t token_id_of(const json& id, std::string_view source, const std::string& what) {
  if (!id.is_number_integer()) fail("{}: {} has no integer id", source, what);
  if (id.is_number_unsigned() && id.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    fail("{}: {} has id {}, beyond any vocabulary", source, what, id.dump());
  const int64_t value = id.get<int64_t>();
  if (value < 0) fail("{}: {} has negative id {}", source, what, value);
  return value;
}

// Every id below the number of tokens defined plus kMaxIdGap, so nothing is sized by a number the
// file merely states.
void check_id_bounds(const TokenizerSpec& spec, std::string_view source) {
  const int64_t limit = static_cast<int64_t>(spec.vocab.size() + spec.added_tokens.size()) + kMaxIdGap;
  for (const auto& [text, id] : spec.vocab)
    if (id >= limit)
      fail("{}: vocab token '{}' has id {}, beyond the {} tokens the file defines (ids must be below {})", source,
           text, id, spec.vocab.size() + spec.added_tokens.size(), limit);
  for (const AddedToken& token : spec.added_tokens)
    if (token.id >= limit)
      fail("{}: added token '{}' has id {}, beyond the {} tokens the file defines (ids must be below {})", source,
           token.content, token.id, spec.vocab.size() + spec.added_tokens.size(), limit);
}

bool flag(const json& node, const char* key, bool fallback) {
  auto it = node.find(key);
  if (it == node.end() || it->is_null()) return fallback;
  return it->get<bool>();
}

void parse_merges(const json& merges, std::string_view source, TokenizerSpec& spec) {
  if (!merges.is_array()) fail("{}: model.merges is not an array", source);
  spec.merges.reserve(merges.size());
  for (const json& merge : merges) {
    if (merge.is_string()) {  // legacy "left right"
      const std::string line = merge.get<std::string>();
      if (line.starts_with("#version")) continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        fail("{}: merge '{}' is not two tokens separated by one space", source, line);
      }
      spec.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      spec.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      fail("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", source, merge.dump());
    }
  }
}

void parse_model(const json& root, std::string_view source, TokenizerSpec& spec) {
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) {
    fail("{}: no \"model\" object", source);
  }
  const json& model = *model_it;
  if (model.contains("type") && type_of(model) != "BPE") {
    fail("{}: model type '{}' is not supported (only BPE)", source, type_of(model));
  }
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) {
    fail("{}: model.vocab is missing or not an object", source);
  }
  if (vocab_it->empty()) fail("{}: model.vocab is empty: no text could be tokenized", source);
  spec.vocab.reserve(vocab_it->size());
  for (const auto& [text, id] : vocab_it->items()) {
    if (!id.is_number_integer()) fail("{}: vocab entry '{}' has no integer id", source, text);
    const int64_t value = token_id_of(id, source, fmt::format("vocab token '{}'", text));
    if (value > INT32_MAX) fail("{}: vocab token '{}' has id {}, beyond any vocabulary", source, text, value);
    spec.vocab.emplace(text, static_cast<int32_t>(value));
  }
  auto merges_it = model.find("merges");
  if (merges_it == model.end()) fail("{}: model.merges is missing", source);
  parse_merges(*merges_it, source, spec);

  if (auto it = model.find("dropout");
      it != model.end() && !it->is_null() && it->get<double>() != 0.0) {
    fail("{}: BPE dropout {} is not supported", source, it->dump());
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() && !it->get<std::string>().empty()) {
      fail("{}: BPE {} '{}' is not supported", source, key, it->get<std::string>());
    }
  }
  if (flag(model, "byte_fallback", false)) fail("{}: BPE byte_fallback is not supported", source);
  if (auto it = model.find("unk_token"); it != model.end() && !it->is_null()) {
    spec.bpe.unk_token = it->get<std::string>();
  }
  spec.bpe.fuse_unk = flag(model, "fuse_unk", false);
  spec.bpe.ignore_merges = flag(model, "ignore_merges", false);
}

void parse_normalizer(const json& root, std::string_view source, TokenizerSpec& spec) {
  auto it = root.find("normalizer");
  if (it == root.end() || it->is_null()) return;
  for (const json* step : steps_of(*it, "normalizers")) {
    if (type_of(*step) != "NFC") {
      fail("{}: normalizer '{}' is not supported (only NFC or none)", source, type_of(*step));
    }
    spec.nfc = true;
  }
}

void parse_pre_tokenizer(const json& root, std::string_view source, TokenizerSpec& spec) {
  auto it = root.find("pre_tokenizer");
  if (it == root.end() || it->is_null()) {
    fail("{}: no pre_tokenizer; a ByteLevel pre-tokenizer is required", source);
  }
  bool byte_level = false;
  for (const json* step : steps_of(*it, "pretokenizers")) {
    const std::string type = type_of(*step);
    if (byte_level) fail("{}: pre-tokenizer '{}' after ByteLevel is not supported", source, type);
    if (type == "Split") {
      const json& pattern = step->value("pattern", json::object());
      if (!pattern.contains("Regex")) {
        fail(
            "{}: unknown pre-tokenizer split pattern {} (only the Qwen2/Qwen3.5/GPT-2 regexes "
            "are known)",
            source, pattern.dump());
      }
      const std::string regex = pattern["Regex"].get<std::string>();
      const auto known = split_pattern_from_regex(regex);
      if (!known) {
        fail(
            "{}: unknown pre-tokenizer split regex '{}' (only the Qwen2/Qwen3.5/GPT-2 regexes "
            "are known)",
            source, regex);
      }
      if (step->value("behavior", std::string()) != "Isolated" || flag(*step, "invert", false)) {
        fail("{}: Split behavior '{}' invert {} is not supported (only Isolated, not inverted)",
             source, step->value("behavior", std::string()), flag(*step, "invert", false));
      }
      spec.splits.push_back(*known);
    } else if (type == "ByteLevel") {
      if (flag(*step, "add_prefix_space", false)) {
        fail("{}: ByteLevel add_prefix_space=true is not supported", source);
      }
      if (flag(*step, "use_regex", true)) spec.splits.push_back(SplitPattern::kGpt2);
      byte_level = true;
    } else {
      fail("{}: pre-tokenizer '{}' is not supported (only Split and ByteLevel)", source, type);
    }
  }
  if (!byte_level) fail("{}: the pre-tokenizer has no ByteLevel step", source);
}

void parse_decoder(const json& root, std::string_view source) {
  auto it = root.find("decoder");
  if (it == root.end() || it->is_null() || type_of(*it) != "ByteLevel") {
    fail("{}: decoder '{}' is not supported (only ByteLevel)", source,
         it == root.end() || it->is_null() ? "null" : type_of(*it));
  }
}

void parse_added_tokens(const json& root, std::string_view source, TokenizerSpec& spec) {
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_array()) fail("{}: added_tokens is not an array", source);
  for (const json& entry : *it) {
    if (!entry.is_object() || !entry.contains("id") || !entry.contains("content")) {
      fail("{}: added token {} lacks id or content", source, entry.dump());
    }
    AddedToken token;
    token.content = entry["content"].get<std::string>();
    if (token.content.empty()) continue;  // HF ignores empty added tokens
    const int64_t id = token_id_of(entry["id"], source, fmt::format("added token '{}'", token.content));
    if (id > INT32_MAX) fail("{}: added token '{}' has id {}, beyond any vocabulary", source, token.content, id);
    token.id = static_cast<int32_t>(id);
    token.special = flag(entry, "special", false);
    token.normalized = flag(entry, "normalized", !token.special);
    token.lstrip = flag(entry, "lstrip", false);
    token.rstrip = flag(entry, "rstrip", false);
    if (flag(entry, "single_word", false)) {
      fail("{}: added token '{}' has single_word=true, which is not supported", source,
           token.content);
    }
    token.match_text = token.content;
    spec.added_tokens.push_back(std::move(token));
  }
}

}  // namespace

TokenizerSpec parse_tokenizer_json(std::string_view json_text, std::string_view source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail("{}: malformed JSON: {}", source, e.what());
  }
  if (!root.is_object()) fail("{}: not a JSON object", source);
  TokenizerSpec spec;
  try {
    parse_model(root, source, spec);
    parse_normalizer(root, source, spec);
    parse_pre_tokenizer(root, source, spec);
    parse_decoder(root, source);
    parse_added_tokens(root, source, spec);
    check_id_bounds(spec, source);
  } catch (const json::exception& e) {  // a field of the wrong JSON type
    fail("{}: unexpected tokenizer.json content: {}", source, e.what());
  }
  return spec;
}

}  // namespace streammoe
