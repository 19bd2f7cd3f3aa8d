#pragma once
// Where routed experts' weights come from. The MoE block asks for the K experts of a layer at
// once, so a streaming source can read them in parallel; the views stay valid until the next
// fetch for the same layer.
#include <cstdint>
#include <span>

#include "engine/ops/linear.h"

namespace streammoe {

struct ExpertWeights {
  LinearRef gate;  // [moe_intermediate, hidden]
  LinearRef up;    // [moe_intermediate, hidden]
  LinearRef down;  // [hidden, moe_intermediate]
};

// What a source did, for telemetry (--metrics-json) and the bytes-per-token tests.
struct ExpertIoStats {
  uint64_t fetches = 0;         // fetch() calls
  uint64_t experts_loaded = 0;  // experts handed out
  uint64_t bytes_read = 0;      // bytes read from expert files (0 for mmap views)
};

class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  virtual void fetch(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out) = 0;
  const ExpertIoStats& stats() const { return stats_; }

 protected:
  ExpertIoStats stats_;
};

}  // namespace streammoe
