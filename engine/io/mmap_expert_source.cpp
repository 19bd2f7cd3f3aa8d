#include "engine/io/mmap_expert_source.h"

#include <fmt/format.h>

#include "engine/util/error.h"

namespace streammoe {

MmapExpertSource::MmapExpertSource(const WeightLoader& w, const ModelConfig& c) : table_(c.num_layers) {
  const int64_t E = c.num_experts, I = c.moe_intermediate_size, H = c.hidden_size;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (c.ffn_types[l] != FfnKind::kMoe) continue;
    const std::string base = fmt::format("layers.{}.mlp.experts.", l);
    auto& experts = table_[l];
    experts.resize(E);
    if (w.has(base + "gate_up_proj")) {
      for (int64_t e = 0; e < E; ++e) {
        experts[e].gate = w.slab(base + "gate_up_proj", E, e, 2 * I, H, 0, I);
        experts[e].up = w.slab(base + "gate_up_proj", E, e, 2 * I, H, I, I);
        experts[e].down = w.slab(base + "down_proj", E, e, H, I, 0, H);
      }
    } else {
      for (int64_t e = 0; e < E; ++e) {
        const std::string p = fmt::format("{}{}.", base, e);
        experts[e].gate = w.matrix(p + "gate_proj.weight", I, H);
        experts[e].up = w.matrix(p + "up_proj.weight", I, H);
        experts[e].down = w.matrix(p + "down_proj.weight", H, I);
      }
    }
  }
}

void MmapExpertSource::fetch(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out) {
  const auto& table = table_.at(layer);
  for (size_t i = 0; i < experts.size(); ++i) {
    if (experts[i] < 0 || experts[i] >= static_cast<int32_t>(table.size()))
      fail("layer {}: expert {} out of range", layer, experts[i]);
    out[i] = table[experts[i]];
  }
  stats_.fetches += 1;
  stats_.experts_loaded += experts.size();
}

}  // namespace streammoe
