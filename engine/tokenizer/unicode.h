#pragma once
// Lookups in the generated Unicode tables (unicode_tables.cpp): the character classes the
// pre-tokenizer patterns use, and what NFC needs.
#include <cstdint>
#include <optional>

#include "engine/tokenizer/unicode_tables.h"

namespace streammoe::unicode {

// Bit set of kLetter, kNumber, kMark, kWhitespace; 0 for everything else (punctuation,
// symbols, controls, unassigned).
uint8_t category_flags(char32_t code_point);

uint8_t combining_class(char32_t code_point);

// The canonical decomposition of one code point (one level; Hangul syllables excluded), or null.
const Decomposition* canonical_decomposition(char32_t code_point);

// The primary composite of `first` + `second` (Hangul included), if NFC forms one.
std::optional<char32_t> compose(char32_t first, char32_t second);

}  // namespace streammoe::unicode
