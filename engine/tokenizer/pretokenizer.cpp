#include "engine/tokenizer/pretokenizer.h"

#include <array>

#include "engine/tokenizer/unicode.h"
#include "engine/util/utf8.h"

namespace streammoe {

namespace {

struct PatternSource {
  SplitPattern pattern;
  std::string_view name;
  std::string_view regex;
};

constexpr std::array<PatternSource, 3> kPatterns{{
    {SplitPattern::kQwen2, "qwen2",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {SplitPattern::kQwen35, "qwen35",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {SplitPattern::kGpt2, "gpt2",
     R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"},
}};

const PatternSource& source_of(SplitPattern pattern) {
  for (const PatternSource& s : kPatterns) {
    if (s.pattern == pattern) return s;
  }
  return kPatterns[0];
}

// The text as code points with their classes; matchers work on code point indices.
class CodePoints {
 public:
  explicit CodePoints(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
      const utf8::Decoded d = utf8::decode(text, pos);
      code_points_.push_back(d.code_point);
      flags_.push_back(unicode::category_flags(d.code_point));
      offsets_.push_back(pos);
      pos += d.length;
    }
    offsets_.push_back(text.size());
  }
  size_t size() const { return code_points_.size(); }
  size_t byte_offset(size_t i) const { return offsets_[i]; }
  char32_t at(size_t i) const { return i < size() ? code_points_[i] : 0; }
  bool has(size_t i, uint8_t flag) const { return i < size() && (flags_[i] & flag) != 0; }
  bool letter(size_t i) const { return has(i, unicode::kLetter); }
  bool number(size_t i) const { return has(i, unicode::kNumber); }
  bool space(size_t i) const { return has(i, unicode::kWhitespace); }
  bool newline(size_t i) const { return i < size() && (at(i) == '\r' || at(i) == '\n'); }
  // None of the classes in `excluded` (and a code point at all).
  bool none_of(size_t i, uint8_t excluded) const {
    return i < size() && (flags_[i] & excluded) == 0;
  }
  // End of the run of code points from `i` for which `in_class` holds.
  template <typename Predicate>
  size_t run_end(size_t i, Predicate in_class) const {
    while (i < size() && in_class(i)) ++i;
    return i;
  }

 private:
  std::vector<char32_t> code_points_;
  std::vector<uint8_t> flags_;
  std::vector<size_t> offsets_;
};

char32_t ascii_lower(char32_t c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

// 's|'t|'re|'ve|'m|'ll|'d, ASCII case-insensitive under (?i:...) (Oniguruma does not fold
// U+017F or U+212A here: the fixtures check it).
size_t match_contraction(const CodePoints& cps, size_t i, bool ignore_case) {
  if (cps.at(i) != '\'' || i + 1 >= cps.size()) return 0;
  const auto lower = [&](size_t k) { return ignore_case ? ascii_lower(cps.at(k)) : cps.at(k); };
  const char32_t c1 = lower(i + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  const char32_t c2 = i + 2 < cps.size() ? lower(i + 2) : 0;
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// Whitespace alternatives shared by the patterns, tried at i where a whitespace run starts.
// \s*[\r\n]+ (Qwen only): \s* backtracks to the last CR/LF of the run, which [\r\n]+ takes.
// \s+(?!\S): the run, less its last code point when a non-space follows.
// \s+: what remains, a single space before a non-space.
size_t match_whitespace(const CodePoints& cps, size_t i, bool newline_alternative) {
  const size_t end = cps.run_end(i, [&](size_t k) { return cps.space(k); });
  if (end == i) return 0;
  if (newline_alternative) {
    for (size_t k = end; k > i; --k) {
      if (cps.newline(k - 1)) return k - i;
    }
  }
  if (end == cps.size()) return end - i;
  if (end - i >= 2) return end - 1 - i;
  return end - i;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?W+|\p{N}| ?P+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// with W = \p{L} (Qwen2) or [\p{L}\p{M}] (Qwen3.5), P = neither \s nor W nor \p{N}.
size_t match_qwen(const CodePoints& cps, size_t i, bool marks_are_letters) {
  const uint8_t word = marks_are_letters ? (unicode::kLetter | unicode::kMark) : unicode::kLetter;
  const uint8_t not_punct = word | unicode::kNumber | unicode::kWhitespace;
  const auto is_word = [&](size_t k) { return cps.has(k, word); };
  const auto is_punct = [&](size_t k) { return cps.none_of(k, not_punct); };

  if (size_t n = match_contraction(cps, i, /*ignore_case=*/true)) return n;
  if (!cps.newline(i) && cps.none_of(i, unicode::kLetter | unicode::kNumber) && is_word(i + 1)) {
    return cps.run_end(i + 1, is_word) - i;
  }
  if (is_word(i)) return cps.run_end(i, is_word) - i;
  if (cps.number(i)) return 1;
  size_t punct_start = cps.at(i) == ' ' && is_punct(i + 1) ? i + 1 : i;
  if (is_punct(punct_start)) {
    const size_t end = cps.run_end(punct_start, is_punct);
    return cps.run_end(end, [&](size_t k) { return cps.newline(k); }) - i;
  }
  return match_whitespace(cps, i, /*newline_alternative=*/true);
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_gpt2(const CodePoints& cps, size_t i) {
  const auto is_letter = [&](size_t k) { return cps.letter(k); };
  const auto is_number = [&](size_t k) { return cps.number(k); };
  const auto is_punct = [&](size_t k) {
    return cps.none_of(k, unicode::kLetter | unicode::kNumber | unicode::kWhitespace);
  };
  if (size_t n = match_contraction(cps, i, /*ignore_case=*/false)) return n;
  // A space is none of the three classes, so ' ?X+' matches at i only through the space.
  const size_t after_space = cps.at(i) == ' ' ? i + 1 : i;
  if (is_letter(after_space)) return cps.run_end(after_space, is_letter) - i;
  if (is_number(after_space)) return cps.run_end(after_space, is_number) - i;
  if (is_punct(after_space)) return cps.run_end(after_space, is_punct) - i;
  return match_whitespace(cps, i, /*newline_alternative=*/false);
}

}  // namespace

std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex) {
  for (const PatternSource& s : kPatterns) {
    if (s.regex == regex) return s.pattern;
  }
  return std::nullopt;
}

std::string_view split_pattern_regex(SplitPattern pattern) { return source_of(pattern).regex; }
std::string_view split_pattern_name(SplitPattern pattern) { return source_of(pattern).name; }

void split_pieces(std::string_view text, SplitPattern pattern,
                  std::vector<std::string_view>& pieces) {
  const CodePoints cps(text);
  const auto piece = [&](size_t begin, size_t end) {
    const size_t from = cps.byte_offset(begin);
    pieces.push_back(text.substr(from, cps.byte_offset(end) - from));
  };
  size_t gap_start = 0;
  for (size_t i = 0; i < cps.size();) {
    const size_t length = pattern == SplitPattern::kGpt2
                              ? match_gpt2(cps, i)
                              : match_qwen(cps, i, pattern == SplitPattern::kQwen35);
    if (length == 0) {  // no alternative matches here: this code point joins a gap
      ++i;
      continue;
    }
    if (gap_start < i) piece(gap_start, i);
    piece(i, i + length);
    i += length;
    gap_start = i;
  }
  if (gap_start < cps.size()) piece(gap_start, cps.size());
}

}  // namespace streammoe
