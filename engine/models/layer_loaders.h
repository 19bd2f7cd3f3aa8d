#pragma once
// Loaders for the blocks both architectures share; names are relative to "layers.N.".
#include <memory>
#include <string>

#include "engine/models/model.h"
#include "engine/model/weights.h"

namespace streammoe {

std::unique_ptr<Attention> load_attention(const WeightLoader& w, const ModelConfig& c,
                                          const std::string& prefix, const Rope& rope);
std::unique_ptr<MoeBlock> load_moe(const WeightLoader& w, const ModelConfig& c, int64_t layer,
                                   const std::string& prefix, bool shared_expert, ExpertSource& experts);
MlpWeights load_mlp(const WeightLoader& w, const std::string& prefix, int64_t hidden, int64_t intermediate);

}  // namespace streammoe
