#pragma once
// Byte-level BPE tokenizer read from a Hugging Face tokenizer.json (the format Qwen2/3/3.5
// ship). encode() reproduces tokenizers' Tokenizer.encode(text, add_special_tokens=False):
//   added tokens found in the raw text -> NFC (if the file asks) -> regex split -> byte-level
//   -> BPE merges by rank.
// Only what these tokenizers use is supported; anything else in the file (another model type,
// normalizer, pre-tokenizer or an unknown split regex) is refused at load with an Error that
// names the file.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace streammoe {

struct SpecialTokenIds {
  std::optional<int32_t> bos;
  std::optional<int32_t> eos;
  std::optional<int32_t> pad;
};

class Tokenizer {
 public:
  // Reads tokenizer.json; when a tokenizer_config.json sits beside it, its bos/eos/pad token
  // names fill special_token_ids(), else Qwen's defaults do (eos <|im_end|> or <|endoftext|>,
  // pad <|endoftext|>). Throws Error naming the file.
  static Tokenizer load(const std::filesystem::path& tokenizer_json);
  // The same from the JSON text itself; `source` names it in errors.
  static Tokenizer from_json(std::string_view json_text, std::string_view source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // allow_special=false leaves special added tokens (<|im_start|> ...) in the text, to be
  // tokenized as plain text (HF encode_special_tokens=True); non-special added tokens still
  // match. Invalid UTF-8 is replaced by U+FFFD first. Never adds BOS/EOS.
  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const;

  // HF decode(ids, skip_special_tokens): token strings through the ByteLevel decoder, invalid
  // UTF-8 replaced by U+FFFD; ids that name no token are skipped.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  // The raw bytes of the tokens (no UTF-8 repair), for streaming; see StreamDecoder.
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special = false) const;

  // The token's string in the vocabulary (byte-level alphabet, e.g. "Ġthe"), or an added
  // token's content; "" for an id that names no token. Inverse of token_id().
  std::string token_text(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view token_text) const;

  // One more than the largest id (vocabulary and added tokens). The model's embedding may have
  // more rows (Qwen pads it).
  int32_t vocab_size() const;

  bool is_special(int32_t id) const;
  // The id of an added token with this content (special or not), e.g. "<|im_end|>".
  std::optional<int32_t> added_token_id(std::string_view content) const;
  const SpecialTokenIds& special_token_ids() const;

  // What the file asked for, for logs: e.g. "BPE vocab 151643 + 26 added, NFC, split qwen35".
  std::string describe() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streammoe
