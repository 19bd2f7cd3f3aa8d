#include "engine/tokenizer/nfc.h"

#include <algorithm>
#include <vector>

#include "engine/tokenizer/unicode.h"
#include "engine/util/utf8.h"

namespace streammoe {

namespace {

constexpr char32_t kSyllableBase = 0xAC00, kSyllableCount = 11172;
constexpr char32_t kLeadBase = 0x1100, kVowelBase = 0x1161, kTrailBase = 0x11A7;
constexpr char32_t kVowelCount = 21, kTrailCount = 28;

void decompose(char32_t code_point, std::vector<char32_t>& out) {
  if (code_point >= kSyllableBase && code_point < kSyllableBase + kSyllableCount) {
    const char32_t index = code_point - kSyllableBase;
    out.push_back(kLeadBase + index / (kVowelCount * kTrailCount));
    out.push_back(kVowelBase + (index % (kVowelCount * kTrailCount)) / kTrailCount);
    if (index % kTrailCount != 0) out.push_back(kTrailBase + index % kTrailCount);
    return;
  }
  const unicode::Decomposition* d = unicode::canonical_decomposition(code_point);
  if (d == nullptr) {
    out.push_back(code_point);
    return;
  }
  decompose(d->first, out);
  if (d->second != 0) decompose(d->second, out);
}

// Stable sort of every run of non-starters by combining class.
void canonical_order(std::vector<char32_t>& code_points) {
  size_t i = 0;
  while (i < code_points.size()) {
    if (unicode::combining_class(code_points[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < code_points.size() && unicode::combining_class(code_points[end]) != 0) ++end;
    std::stable_sort(code_points.begin() + i, code_points.begin() + end,
                     [](char32_t a, char32_t b) {
                       return unicode::combining_class(a) < unicode::combining_class(b);
                     });
    i = end;
  }
}

// Canonical composition (the algorithm of UAX #15's sample code): a character composes with the
// last starter unless a character between them blocks it (class 0, or class >= its own).
void compose(std::vector<char32_t>& code_points) {
  if (code_points.empty()) return;
  size_t starter = 0;
  int last_class = unicode::combining_class(code_points[0]) == 0 ? 0 : 256;
  size_t kept = 1;
  for (size_t i = 1; i < code_points.size(); ++i) {
    const char32_t c = code_points[i];
    const int c_class = unicode::combining_class(c);
    if (last_class < c_class || last_class == 0) {
      if (auto composite = unicode::compose(code_points[starter], c)) {
        code_points[starter] = *composite;
        continue;
      }
    }
    if (c_class == 0) starter = kept;
    last_class = c_class;
    code_points[kept++] = c;
  }
  code_points.resize(kept);
}

}  // namespace

std::string nfc(std::string_view text) {
  // ASCII is always NFC, and most prompts are ASCII.
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(text);
  }
  std::vector<char32_t> code_points;
  code_points.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Decoded d = utf8::decode(text, pos);
    decompose(d.code_point, code_points);
    pos += d.length;
  }
  canonical_order(code_points);
  compose(code_points);
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : code_points) utf8::append(out, cp);
  return out;
}

}  // namespace streammoe
