#include "engine/util/utf8.h"

#include <fmt/format.h>

namespace streammoe::utf8 {

namespace {

bool in_range(unsigned char byte, unsigned char low, unsigned char high) {
  return byte >= low && byte <= high;
}

}  // namespace

Decoded decode(std::string_view text, size_t pos) {
  const auto byte_at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte_at(pos);
  if (lead < 0x80) return {lead, 1, true, false};

  // Well-formed sequences (Unicode Table 3-7): the lead byte fixes the length and the allowed
  // range of the second byte; later bytes are 80..BF.
  uint32_t length = 0;
  unsigned char second_low = 0x80, second_high = 0xBF;
  char32_t code_point = 0;
  if (in_range(lead, 0xC2, 0xDF)) {
    length = 2;
    code_point = lead & 0x1F;
  } else if (in_range(lead, 0xE0, 0xEF)) {
    length = 3;
    code_point = lead & 0x0F;
    if (lead == 0xE0) second_low = 0xA0;
    if (lead == 0xED) second_high = 0x9F;
  } else if (in_range(lead, 0xF0, 0xF4)) {
    length = 4;
    code_point = lead & 0x07;
    if (lead == 0xF0) second_low = 0x90;
    if (lead == 0xF4) second_high = 0x8F;
  } else {
    return {kReplacement, 1, false, false};
  }
  for (uint32_t i = 1; i < length; ++i) {
    if (pos + i >= text.size()) return {kReplacement, i, false, true};
    const unsigned char byte = byte_at(pos + i);
    const bool ok = i == 1 ? in_range(byte, second_low, second_high) : in_range(byte, 0x80, 0xBF);
    if (!ok) return {kReplacement, i, false, false};
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  return {code_point, length, true, false};
}

void append(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

bool is_valid(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const Decoded d = decode(text, pos);
    if (!d.valid) return false;
    pos += d.length;
  }
  return true;
}

std::string to_valid_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    const Decoded d = decode(bytes, pos);
    if (d.valid) {
      out.append(bytes.substr(pos, d.length));
    } else {
      append(out, kReplacement);
    }
    pos += d.length;
  }
  return out;
}

size_t complete_prefix_length(std::string_view bytes) {
  // Only the last (at most 3) bytes can start an unfinished sequence.
  const size_t scan_from = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t pos = scan_from; pos < bytes.size(); ++pos) {
    const auto byte = static_cast<unsigned char>(bytes[pos]);
    if (byte < 0xC0) continue;  // ASCII or continuation: cannot start a sequence
    const Decoded d = decode(bytes, pos);
    if (d.truncated) return pos;
  }
  return bytes.size();
}

std::string printable_line(std::string_view message) {
  std::string out;
  for (size_t pos = 0; pos < message.size();) {
    const Decoded d = decode(message, pos);
    const auto byte = static_cast<unsigned char>(message[pos]);
    if (!d.valid || byte < 0x20 || byte == 0x7f) {
      out += byte == '\n' ? std::string("\\n") : fmt::format("\\x{:02x}", byte);
      pos += 1;
    } else {
      out.append(message.substr(pos, d.length));
      pos += d.length;
    }
  }
  return out;
}

}  // namespace streammoe::utf8
