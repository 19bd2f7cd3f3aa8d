#include "engine/io/mmap_expert_source.h"

#include "engine/models/tensor_table.h"
#include "engine/util/error.h"

namespace streammoe {

MmapExpertSource::MmapExpertSource(const WeightLoader& w, const ModelConfig& c) : table_(c.num_layers) {
  const ModelTensors tensors(c);
  auto view = [](const StoredMatrix& m) {
    return MatRef{m.tensor->dtype, m.tensor->data.data() + m.offset, m.rows, m.cols};
  };
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (c.ffn_types[l] != FfnKind::kMoe) continue;
    auto& experts = table_[l];
    experts.resize(c.num_experts);
    for (int64_t e = 0; e < c.num_experts; ++e) {
      const StoredExpert x = locate_expert(w.store(), tensors, l, e);
      experts[e] = {view(x.gate), view(x.up), view(x.down)};
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
