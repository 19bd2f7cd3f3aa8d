#pragma once
// Parses and validates a Hugging Face tokenizer.json into what Tokenizer needs, refusing (Error
// naming `source`) every setting this implementation does not reproduce exactly.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/bpe.h"
#include "engine/tokenizer/pretokenizer.h"

namespace streammoe {

struct TokenizerSpec {
  StringMap<int32_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  BpeOptions bpe;
  bool nfc = false;                      // normalizer NFC (else none)
  std::vector<SplitPattern> splits;      // regex splits, applied in order, then byte-level
  std::vector<AddedToken> added_tokens;  // match_text not yet normalized
};

TokenizerSpec parse_tokenizer_json(std::string_view json_text, std::string_view source);

}  // namespace streammoe
