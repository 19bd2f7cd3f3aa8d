#pragma once
// Where routed experts' weights come from. The MoE block asks for the K experts of a layer at
// once, so a streaming source can read them in parallel; the views stay valid until the next
// fetch for the same layer.
#include <cstdint>
#include <span>

#include "engine/ops/matvec.h"

namespace streammoe {

struct ExpertWeights {
  MatRef gate;  // [moe_intermediate, hidden]
  MatRef up;    // [moe_intermediate, hidden]
  MatRef down;  // [hidden, moe_intermediate]
};

class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  virtual void fetch(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out) = 0;
};

}  // namespace streammoe
