#pragma once
// GPT-2's byte-level alphabet (bytes_to_unicode): every byte maps to one printable code point,
// so BPE vocabularies are strings; ' ' is "Ġ" (U+0120), '\n' is "Ċ" (U+010A).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace streammoe::byte_level {

char32_t char_of_byte(uint8_t byte);
std::optional<uint8_t> byte_of_char(char32_t code_point);

// The byte-level string of `bytes`, e.g. " hi" -> "Ġhi".
std::string encode(std::string_view bytes);

// Appends the bytes a token string stands for, as the ByteLevel decoder of Hugging Face
// tokenizers does: each code point mapped back to its byte, or, when the token holds a code
// point outside the alphabet (an added token such as "a b"), the token's own UTF-8 bytes.
void append_decoded(std::string_view token, std::string& out);

}  // namespace streammoe::byte_level
