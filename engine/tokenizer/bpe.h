#pragma once
// Byte-level BPE model: vocabulary, merge ranks, and the merge loop of Hugging Face tokenizers'
// BPE (lowest rank first, leftmost first among equal ranks), with a cache for repeated pieces.
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace streammoe {

// unordered_map<std::string, T> that can be searched with a std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;  // for bytes the vocabulary lacks; none: dropped (as HF)
  bool fuse_unk = false;                 // consecutive unknown bytes give one unk token
  bool ignore_merges = false;            // a piece that is itself in the vocabulary is one token
};

class ByteLevelBpe {
 public:
  // `vocab`: token string (byte-level alphabet) -> id; `merges` in rank order. Errors (a merge
  // naming a token the vocabulary lacks) are thrown as Error starting with `source`.
  ByteLevelBpe(StringMap<int32_t> vocab,
               std::span<const std::pair<std::string, std::string>> merges, BpeOptions options,
               std::string_view source);
  ByteLevelBpe(const ByteLevelBpe&) = delete;
  ByteLevelBpe& operator=(const ByteLevelBpe&) = delete;

  // Appends the ids of one pre-tokenized piece, given as raw bytes (the byte-level mapping is
  // implied: one initial symbol per byte).
  void encode_piece(std::string_view piece, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_id(std::string_view token) const;
  const std::string* token_text(int32_t id) const;  // null when no token has this id
  int32_t id_limit() const { return static_cast<int32_t>(token_texts_.size()); }

 private:
  struct Merge {
    uint32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  void merge(std::string_view piece, std::vector<int32_t>& ids) const;

  StringMap<int32_t> vocab_;
  std::vector<std::string> token_texts_;  // by id; ids the vocabulary skips hold ""
  std::vector<bool> has_token_;
  std::array<int32_t, 256> byte_ids_{};  // id of each byte's one-character token, or -1
  std::unordered_map<uint64_t, Merge> merges_;
  BpeOptions options_;
  std::optional<int32_t> unk_id_;

  static constexpr size_t kCacheCapacity = 10000;
  static constexpr size_t kCacheMaxPieceBytes = 256;
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace streammoe
