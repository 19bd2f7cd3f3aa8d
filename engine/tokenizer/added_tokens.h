#pragma once
// Added tokens (tokenizer.json "added_tokens": <|im_start|>, <think>, ...) are found in the text
// before normalization and pre-tokenization, as Hugging Face's AddedVocabulary does: leftmost-
// longest matching, first the tokens with normalized=false on the raw text, then those with
// normalized=true on the normalized remainder; lstrip/rstrip widen a match over whitespace.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace streammoe {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;     // skipped by decode(skip_special); not matched when !allow_special
  bool normalized = false;  // matched against normalized text (its content normalized too)
  bool lstrip = false;      // takes the whitespace before it
  bool rstrip = false;      // takes the whitespace after it
  std::string match_text;   // content, normalized when `normalized`
};

struct TextSegment {
  std::string_view text;
  int32_t added_token_id = -1;  // >= 0: this segment is that added token
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  bool empty() const { return tokens_.empty(); }

  // Appends the segments of `text`: added tokens and the text between them. With
  // !match_special, special tokens are left in the text (as HF's encode_special_tokens=true).
  void split(std::string_view text, bool match_special, std::vector<TextSegment>& out) const;

 private:
  std::vector<AddedToken> tokens_;
  std::vector<std::vector<size_t>> by_first_byte_;  // token indices, longest first
};

}  // namespace streammoe
