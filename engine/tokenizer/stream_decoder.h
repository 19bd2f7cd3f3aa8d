#pragma once
// Turns generated token ids into text as they come: a character split across tokens (CJK,
// emoji: one byte-level token may hold part of one) is held back until it is complete, so every
// returned piece is valid UTF-8 and the pieces concatenate to Tokenizer::decode of all ids.
#include <cstdint>
#include <string>

#include "engine/tokenizer/tokenizer.h"

namespace streammoe {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}

  // The text that `id` completes (possibly empty).
  std::string push(int32_t id);
  // Whatever is still held back (an unfinished character becomes U+FFFD); call at the end.
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;  // bytes of an unfinished UTF-8 sequence
};

}  // namespace streammoe
