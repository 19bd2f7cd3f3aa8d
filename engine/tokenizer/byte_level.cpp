#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/util/utf8.h"

namespace streammoe::byte_level {

namespace {

struct Alphabet {
  std::array<char32_t, 256> char_of_byte{};
  std::array<int16_t, 512> byte_of_char{};  // every alphabet code point is below U+0200; -1: none
};

const Alphabet& alphabet() {
  static const Alphabet table = [] {
    Alphabet a;
    a.byte_of_char.fill(-1);
    // Printable Latin-1 bytes stand for themselves; the rest take U+0100 upwards, in byte order.
    const auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      a.char_of_byte[b] = printable(b) ? static_cast<char32_t>(b) : next++;
      a.byte_of_char[a.char_of_byte[b]] = static_cast<int16_t>(b);
    }
    return a;
  }();
  return table;
}

}  // namespace

char32_t char_of_byte(uint8_t byte) { return alphabet().char_of_byte[byte]; }

std::optional<uint8_t> byte_of_char(char32_t code_point) {
  if (code_point >= alphabet().byte_of_char.size()) return std::nullopt;
  const int16_t byte = alphabet().byte_of_char[code_point];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) utf8::append(out, char_of_byte(static_cast<uint8_t>(c)));
  return out;
}

void append_decoded(std::string_view token, std::string& out) {
  const size_t start = out.size();
  for (size_t pos = 0; pos < token.size();) {
    const utf8::Decoded d = utf8::decode(token, pos);
    const std::optional<uint8_t> byte = d.valid ? byte_of_char(d.code_point) : std::nullopt;
    if (!byte) {
      out.resize(start);
      out.append(token);
      return;
    }
    out.push_back(static_cast<char>(*byte));
    pos += d.length;
  }
}

}  // namespace streammoe::byte_level
