#pragma once
// Experts of a Hugging Face checkpoint, served as views into the mmap'd safetensors (stored dtype,
// unquantised): the quality reference. Accepts both layouts:
//   per-expert  layers.L.mlp.experts.E.{gate,up,down}_proj.weight   (what save_pretrained writes)
//   fused 3-D   layers.L.mlp.experts.gate_up_proj [E, 2I, H], layers.L.mlp.experts.down_proj [E, H, I]
#include <vector>

#include "engine/io/expert_source.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace streammoe {

class MmapExpertSource : public ExpertSource {
 public:
  MmapExpertSource(const WeightLoader& weights, const ModelConfig& config);
  void fetch(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out) override;

 private:
  std::vector<std::vector<ExpertWeights>> table_;  // [layer][expert]; empty for dense layers
};

}  // namespace streammoe
