#pragma once
// Experts of a Hugging Face checkpoint, served as views into the mmap'd safetensors (stored dtype,
// unquantised): the quality reference. Accepts both expert layouts of the tensor table
// (engine/models/tensor_table.h): per-expert tensors (what save_pretrained writes) and fused 3-D.
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
