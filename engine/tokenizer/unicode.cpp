#include "engine/tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <unordered_map>

namespace streammoe::unicode {

namespace {

// Hangul syllable arithmetic (Unicode 3.12).
constexpr char32_t kSyllableBase = 0xAC00, kLeadBase = 0x1100, kVowelBase = 0x1161,
                   kTrailBase = 0x11A7;
constexpr char32_t kLeadCount = 19, kVowelCount = 21, kTrailCount = 28;
constexpr char32_t kSyllableCount = kLeadCount * kVowelCount * kTrailCount;

template <typename Range>
const Range* find_range(std::span<const Range> ranges, char32_t code_point) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), code_point,
                             [](char32_t cp, const Range& r) { return cp < r.first; });
  if (it == ranges.begin()) return nullptr;
  --it;
  return code_point <= it->last ? &*it : nullptr;
}

std::array<uint8_t, 128> make_ascii_flags() {
  std::array<uint8_t, 128> flags{};
  for (char32_t cp = 0; cp < 128; ++cp) {
    const CategoryRange* range = find_range(kCategoryRanges, cp);
    flags[cp] = range ? range->flags : 0;
  }
  return flags;
}

uint64_t pair_key(char32_t first, char32_t second) {
  return (static_cast<uint64_t>(first) << 32) | second;
}

const std::unordered_map<uint64_t, char32_t>& composition_map() {
  static const std::unordered_map<uint64_t, char32_t> map = [] {
    std::unordered_map<uint64_t, char32_t> m;
    for (const Decomposition& d : kCanonicalDecompositions) {
      if (d.composes) m.emplace(pair_key(d.first, d.second), d.code_point);
    }
    return m;
  }();
  return map;
}

}  // namespace

uint8_t category_flags(char32_t code_point) {
  static const std::array<uint8_t, 128> ascii = make_ascii_flags();
  if (code_point < 128) return ascii[code_point];
  const CategoryRange* range = find_range(kCategoryRanges, code_point);
  return range ? range->flags : 0;
}

uint8_t combining_class(char32_t code_point) {
  if (code_point < 0x300) return 0;  // nothing below U+0300 combines
  const CombiningClassRange* range = find_range(kCombiningClassRanges, code_point);
  return range ? range->combining_class : 0;
}

const Decomposition* canonical_decomposition(char32_t code_point) {
  if (code_point < 0xC0) return nullptr;  // the first decomposable code point is U+00C0
  auto it =
      std::lower_bound(kCanonicalDecompositions.begin(), kCanonicalDecompositions.end(), code_point,
                       [](const Decomposition& d, char32_t cp) { return d.code_point < cp; });
  return it != kCanonicalDecompositions.end() && it->code_point == code_point ? &*it : nullptr;
}

std::optional<char32_t> compose(char32_t first, char32_t second) {
  if (first >= kLeadBase && first < kLeadBase + kLeadCount && second >= kVowelBase &&
      second < kVowelBase + kVowelCount) {
    return kSyllableBase +
           ((first - kLeadBase) * kVowelCount + (second - kVowelBase)) * kTrailCount;
  }
  if (first >= kSyllableBase && first < kSyllableBase + kSyllableCount &&
      (first - kSyllableBase) % kTrailCount == 0 && second > kTrailBase &&
      second < kTrailBase + kTrailCount) {
    return first + (second - kTrailBase);
  }
  const auto& map = composition_map();
  auto it = map.find(pair_key(first, second));
  if (it == map.end()) return std::nullopt;
  return it->second;
}

}  // namespace streammoe::unicode
