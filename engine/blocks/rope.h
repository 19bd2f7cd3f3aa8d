#pragma once
// Rotary position embedding, transformers' "rotate_half" convention, applied to the leading
// rotary_dim dimensions of a head (partial rotary); the rest pass through.
#include <cstdint>
#include <span>
#include <vector>

namespace streammoe {

class Rope {
 public:
  Rope(int64_t rotary_dim, double theta);
  // head[0:rotary_dim] <- rotate(head, pos)
  void apply(std::span<float> head, int64_t pos) const;
  int64_t rotary_dim() const { return rotary_dim_; }

 private:
  int64_t rotary_dim_;
  std::vector<float> inv_freq_;  // [rotary_dim / 2]
};

}  // namespace streammoe
