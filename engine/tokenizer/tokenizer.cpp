#include "engine/tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/bpe.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/nfc.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer_json.h"
#include "engine/util/utf8.h"
#include "engine/util/error.h"

namespace streammoe {

struct Tokenizer::Impl {
  std::string source;
  std::unique_ptr<ByteLevelBpe> bpe;
  bool nfc = false;
  std::vector<SplitPattern> splits;
  std::vector<AddedToken> added_tokens;
  std::unordered_map<int32_t, size_t> added_by_id;  // index into added_tokens
  StringMap<int32_t> added_by_content;
  AddedTokenMatcher raw_matcher;         // normalized=false tokens, on the raw text
  AddedTokenMatcher normalized_matcher;  // normalized=true tokens, on the normalized text
  SpecialTokenIds special_ids;
  int32_t vocab_size = 0;
  std::vector<std::string> id_bytes;  // what each id decodes to; "" for ids naming no token

  const AddedToken* added(int32_t id) const {
    auto it = added_by_id.find(id);
    return it == added_by_id.end() ? nullptr : &added_tokens[it->second];
  }

  void encode_plain(std::string_view text, std::vector<int32_t>& ids) const {
    std::vector<std::string_view> pieces{text};
    std::vector<std::string_view> next;
    for (SplitPattern pattern : splits) {
      next.clear();
      for (std::string_view piece : pieces) split_pieces(piece, pattern, next);
      pieces.swap(next);
    }
    for (std::string_view piece : pieces) bpe->encode_piece(piece, ids);
  }
};

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open tokenizer file", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) fail("{}: read error", path.string());
  return std::move(text).str();
}

// A tokenizer_config.json token entry: "<|im_end|>", {"content": "<|im_end|>", ...} or null.
std::optional<std::string> config_token_name(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view json_text, std::string_view source) {
  TokenizerSpec spec = parse_tokenizer_json(json_text, source);
  auto impl = std::make_unique<Impl>();
  impl->source = std::string(source);
  impl->nfc = spec.nfc;
  impl->splits = spec.splits;
  impl->bpe = std::make_unique<ByteLevelBpe>(std::move(spec.vocab), spec.merges, spec.bpe, source);
  impl->vocab_size = impl->bpe->id_limit();

  std::vector<AddedToken> raw, normalized;
  for (AddedToken& token : spec.added_tokens) {
    if (token.normalized && impl->nfc) token.match_text = nfc(token.content);
    if (impl->added_by_id.contains(token.id)) {
      fail("{}: added token id {} appears twice", source, token.id);
    }
    impl->added_by_id.emplace(token.id, impl->added_tokens.size());
    impl->added_by_content.emplace(token.content, token.id);
    impl->vocab_size = std::max(impl->vocab_size, token.id + 1);
    (token.normalized ? normalized : raw).push_back(token);
    impl->added_tokens.push_back(std::move(token));
  }
  impl->raw_matcher = AddedTokenMatcher(std::move(raw));
  impl->normalized_matcher = AddedTokenMatcher(std::move(normalized));
  impl->id_bytes.resize(impl->vocab_size);
  for (int32_t id = 0; id < impl->vocab_size; ++id) {
    // HF decodes a normalized added token from its normalized form.
    if (const AddedToken* token = impl->added(id)) {
      byte_level::append_decoded(token->match_text, impl->id_bytes[id]);
    } else if (const std::string* text = impl->bpe->token_text(id)) {
      byte_level::append_decoded(*text, impl->id_bytes[id]);
    }
  }

  Tokenizer tokenizer(std::move(impl));
  // Qwen's defaults; load() replaces them with tokenizer_config.json's names when present.
  SpecialTokenIds& ids = tokenizer.impl_->special_ids;
  ids.eos = tokenizer.added_token_id("<|im_end|>");
  if (!ids.eos) ids.eos = tokenizer.added_token_id("<|endoftext|>");
  ids.pad = tokenizer.added_token_id("<|endoftext|>");
  return tokenizer;
}

Tokenizer Tokenizer::load(const std::filesystem::path& tokenizer_json) {
  Tokenizer tokenizer = from_json(read_file(tokenizer_json), tokenizer_json.string());
  const std::filesystem::path config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    nlohmann::json config;
    try {
      config = nlohmann::json::parse(read_file(config_path));
    } catch (const nlohmann::json::exception& e) {
      fail("{}: malformed JSON: {}", config_path.string(), e.what());
    }
    SpecialTokenIds ids;
    const auto id_of = [&](const char* key) -> std::optional<int32_t> {
      const auto name = config_token_name(config, key);
      if (!name) return std::nullopt;
      const auto id = tokenizer.token_id(*name);
      if (!id) fail("{}: {} '{}' is not a token", config_path.string(), key, *name);
      return id;
    };
    ids.bos = id_of("bos_token");
    ids.eos = id_of("eos_token");
    ids.pad = id_of("pad_token");
    tokenizer.impl_->special_ids = ids;
  }
  return tokenizer;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  std::string repaired;
  if (!utf8::is_valid(text)) {
    repaired = utf8::to_valid_lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  std::vector<TextSegment> segments, inner;
  impl_->raw_matcher.split(text, allow_special, segments);
  for (const TextSegment& segment : segments) {
    if (segment.added_token_id >= 0) {
      ids.push_back(segment.added_token_id);
      continue;
    }
    const std::string normalized = impl_->nfc ? nfc(segment.text) : std::string(segment.text);
    inner.clear();
    impl_->normalized_matcher.split(normalized, allow_special, inner);
    for (const TextSegment& part : inner) {
      if (part.added_token_id >= 0) {
        ids.push_back(part.added_token_id);
      } else {
        impl_->encode_plain(part.text, ids);
      }
    }
  }
  return ids;
}

std::string Tokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= impl_->vocab_size || (skip_special && is_special(id))) continue;
    out += impl_->id_bytes[id];
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  return utf8::to_valid_lossy(decode_bytes(ids, skip_special));
}

std::string Tokenizer::token_text(int32_t id) const {
  if (const AddedToken* token = impl_->added(id)) return token->content;
  const std::string* text = impl_->bpe->token_text(id);
  return text ? *text : std::string();
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token_text) const {
  if (auto id = added_token_id(token_text)) return id;
  return impl_->bpe->token_id(token_text);
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* token = impl_->added(id);
  return token != nullptr && token->special;
}

std::optional<int32_t> Tokenizer::added_token_id(std::string_view content) const {
  auto it = impl_->added_by_content.find(content);
  if (it == impl_->added_by_content.end()) return std::nullopt;
  return it->second;
}

const SpecialTokenIds& Tokenizer::special_token_ids() const { return impl_->special_ids; }

std::string Tokenizer::describe() const {
  std::string splits;
  for (SplitPattern p : impl_->splits) {
    splits += fmt::format("{}{}", splits.empty() ? "" : "+", split_pattern_name(p));
  }
  return fmt::format("byte-level BPE, {} ids ({} added), normalizer {}, split {}",
                     impl_->vocab_size, impl_->added_tokens.size(), impl_->nfc ? "NFC" : "none",
                     splits);
}

}  // namespace streammoe
