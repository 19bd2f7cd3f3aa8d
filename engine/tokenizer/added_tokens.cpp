#include "engine/tokenizer/added_tokens.h"

#include <algorithm>

#include "engine/tokenizer/unicode.h"
#include "engine/util/utf8.h"

namespace streammoe {

namespace {

bool is_space(char32_t code_point) {
  return (unicode::category_flags(code_point) & unicode::kWhitespace) != 0;
}

// Start of the whitespace that ends `text` (text.size() when none).
size_t trailing_space_start(std::string_view text) {
  size_t start = text.size();
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Decoded d = utf8::decode(text, pos);
    pos += d.length;
    if (!is_space(d.code_point)) start = pos;
  }
  return std::min(start, text.size());
}

// Length of the whitespace that starts `text`.
size_t leading_space_length(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8::Decoded d = utf8::decode(text, pos);
    if (!is_space(d.code_point)) break;
    pos += d.length;
  }
  return pos;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens)
    : tokens_(std::move(tokens)), by_first_byte_(256) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const std::string& text = tokens_[i].match_text;
    if (!text.empty()) by_first_byte_[static_cast<uint8_t>(text[0])].push_back(i);
  }
  for (auto& candidates : by_first_byte_) {
    std::stable_sort(candidates.begin(), candidates.end(), [&](size_t a, size_t b) {
      return tokens_[a].match_text.size() > tokens_[b].match_text.size();
    });
  }
}

void AddedTokenMatcher::split(std::string_view text, bool match_special,
                              std::vector<TextSegment>& out) const {
  size_t segment_start = 0;  // HF's start_offset: end of the last emitted token
  size_t pos = 0;
  while (pos < text.size() && !tokens_.empty()) {
    const AddedToken* found = nullptr;
    for (size_t index : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      if (text.substr(pos).starts_with(tokens_[index].match_text)) {
        found = &tokens_[index];
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t stop = pos + found->match_text.size();
    pos = stop;  // the search goes on after a match even when the match is not used
    if (found->special && !match_special) continue;
    if (found->lstrip) {
      // Only back to the previous token: it may have taken those spaces already (rstrip).
      start =
          segment_start + trailing_space_start(text.substr(segment_start, start - segment_start));
    }
    if (found->rstrip) stop += leading_space_length(text.substr(stop));
    if (segment_start < start) out.push_back({text.substr(segment_start, start - segment_start)});
    out.push_back({text.substr(start, stop - start), found->id});
    segment_start = stop;
    pos = std::max(pos, stop);
  }
  if (segment_start < text.size() || text.empty()) {
    out.push_back({text.substr(segment_start)});
  }
}

}  // namespace streammoe
