#include "engine/tokenizer/bpe.h"

#include <algorithm>
#include <queue>

#include "engine/tokenizer/byte_level.h"
#include "engine/util/utf8.h"
#include "engine/util/error.h"

namespace streammoe {

ByteLevelBpe::ByteLevelBpe(StringMap<int32_t> vocab,
                           std::span<const std::pair<std::string, std::string>> merges,
                           BpeOptions options, std::string_view source)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  int32_t max_id = -1;
  for (const auto& [text, id] : vocab_) {
    if (id < 0) fail("{}: vocab token '{}' has negative id {}", source, text, id);
    max_id = std::max(max_id, id);
  }
  token_texts_.resize(static_cast<size_t>(max_id + 1));
  has_token_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [text, id] : vocab_) {
    if (has_token_[id]) fail("{}: vocab id {} is given to two tokens", source, id);
    token_texts_[id] = text;
    has_token_[id] = true;
  }
  for (int b = 0; b < 256; ++b) {
    std::string text;
    utf8::append(text, byte_level::char_of_byte(static_cast<uint8_t>(b)));
    byte_ids_[b] = token_id(text).value_or(-1);
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto left_id = token_id(left);
    const auto right_id = token_id(right);
    const auto merged_id = token_id(left + right);
    if (!left_id || !right_id || !merged_id) {
      fail("{}: merge {} '{} {}' names a token missing from the vocab ('{}')", source, rank, left,
           right,
           !left_id    ? left
           : !right_id ? right
                       : left + right);
    }
    // A repeated pair keeps its last rank, as HF's map does.
    merges_[pair_key(*left_id, *right_id)] = Merge{static_cast<uint32_t>(rank), *merged_id};
  }
  if (options_.unk_token) {
    unk_id_ = token_id(*options_.unk_token);
    if (!unk_id_) fail("{}: unk_token '{}' is not in the vocab", source, *options_.unk_token);
  }
}

std::optional<int32_t> ByteLevelBpe::token_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* ByteLevelBpe::token_text(int32_t id) const {
  if (id < 0 || id >= id_limit() || !has_token_[id]) return nullptr;
  return &token_texts_[id];
}

void ByteLevelBpe::encode_piece(std::string_view piece, std::vector<int32_t>& ids) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = token_id(byte_level::encode(piece))) {
      ids.push_back(*id);
      return;
    }
  }
  const bool cacheable = piece.size() < kCacheMaxPieceBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids.size();
  merge(piece, ids);
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) {
      cache_.emplace(std::string(piece), std::vector<int32_t>(ids.begin() + first, ids.end()));
    }
  }
}

// The merge loop of HF's Word::merge_all: a min-heap of candidate pairs by (rank, position);
// an entry is stale once either side has merged into something else.
void ByteLevelBpe::merge(std::string_view piece, std::vector<int32_t>& ids) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  bool last_was_unk = false;
  for (char c : piece) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    if (id < 0) {
      if (!unk_id_ || (options_.fuse_unk && last_was_unk)) continue;
      last_was_unk = true;
      symbols.push_back({*unk_id_, 0, 0, true});
      continue;
    }
    last_was_unk = false;
    symbols.push_back({id, 0, 0, true});
  }
  const int32_t count = static_cast<int32_t>(symbols.size());
  for (int32_t i = 0; i < count; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < count ? i + 1 : -1;
  }

  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t merged_id;
  };
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
  const auto push_pair = [&](int32_t left) {
    if (left < 0 || symbols[left].next < 0) return;
    auto it = merges_.find(pair_key(symbols[left].id, symbols[symbols[left].next].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.merged_id});
  };
  for (int32_t i = 0; i + 1 < count; ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    const Symbol right = symbols[left.next];
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;  // stale
    symbols[left.next].alive = false;
    left.id = top.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    push_pair(left.prev);
    push_pair(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) ids.push_back(s.id);
  }
}

}  // namespace streammoe
