#pragma once
// Unicode Normalization Form C (canonical decomposition, canonical ordering, canonical
// composition), as the "NFC" normalizer of Hugging Face tokenizers applies it.
#include <string>
#include <string_view>

namespace streammoe {

// `text` must be valid UTF-8 (see utf8::to_valid_lossy).
std::string nfc(std::string_view text);

}  // namespace streammoe
