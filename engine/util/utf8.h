#pragma once
// UTF-8 decoding with the error handling Hugging Face tokenizers (Rust) shows: text is valid
// UTF-8 before it is tokenized, and decoded bytes that are not valid UTF-8 have each maximal
// invalid subpart replaced by U+FFFD (Rust's String::from_utf8_lossy).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace streammoe::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;

struct Decoded {
  char32_t code_point;  // kReplacement when !valid
  uint32_t length;      // bytes consumed: the sequence, or the maximal invalid subpart (>= 1)
  bool valid;
  bool truncated;  // invalid only because the text ends inside a well-formed prefix
};

// Decodes the sequence starting at text[pos] (pos < text.size()).
Decoded decode(std::string_view text, size_t pos);

void append(std::string& out, char32_t code_point);

bool is_valid(std::string_view text);

// `bytes` with every maximal invalid subpart replaced by U+FFFD.
std::string to_valid_lossy(std::string_view bytes);

// Length of the longest prefix of `bytes` that does not end inside a sequence that more bytes
// could still complete (for streaming output: the rest waits for the next token).
size_t complete_prefix_length(std::string_view bytes);

// `message` as one printable line: newlines, control characters and bytes that are not UTF-8
// (a file's own bytes quoted in an error) are written as escapes, so an error stays one line
// that any terminal or log parser reads.
std::string printable_line(std::string_view message);

}  // namespace streammoe::utf8
