#pragma once
// A stable 64-bit content hash (FNV-1a) for cache keys and spec identity: unlike std::hash it is
// the same on every platform and run, so a key written today still matches tomorrow.
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace streammoe::lab {

class StableHash {
 public:
  StableHash& add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      state_ ^= c;
      state_ *= 0x100000001b3ULL;
    }
    // A separator, so that add("ab").add("c") and add("a").add("bc") differ.
    state_ ^= 0xff;
    state_ *= 0x100000001b3ULL;
    return *this;
  }
  uint64_t value() const { return state_; }
  std::string hex() const { return fmt::format("{:016x}", state_); }

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace streammoe::lab
