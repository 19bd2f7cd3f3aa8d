#pragma once
// The regex split of byte-level BPE pre-tokenizers, hand-written: std::regex has no \p{L}. Each
// known pattern string (as it appears in tokenizer.json) maps to one matcher that reproduces
// Oniguruma's leftmost-first, backtracking semantics for that pattern; any other pattern is
// refused when the tokenizer is loaded.
#include <optional>
#include <string_view>
#include <vector>

namespace streammoe {

enum class SplitPattern {
  kQwen2,   // Qwen2 / Qwen3 / Qwen3-MoE: letters, single digits, punctuation, newline runs
  kQwen35,  // Qwen3.5: as kQwen2, with combining marks (\p{M}) counted with letters
  kGpt2,    // GPT-2 (ByteLevel use_regex=true): ' ?\p{L}+', ' ?\p{N}+', ...
};

// The pattern whose regex source is exactly `regex`, if known.
std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex);
std::string_view split_pattern_regex(SplitPattern pattern);
std::string_view split_pattern_name(SplitPattern pattern);

// Appends the pieces of `text` (valid UTF-8) to `pieces` as Hugging Face's
// Split(pattern, behavior=Isolated) makes them: every match, and every gap between matches, in
// order; together they cover `text`. Empty text gives no pieces.
void split_pieces(std::string_view text, SplitPattern pattern,
                  std::vector<std::string_view>& pieces);

}  // namespace streammoe
