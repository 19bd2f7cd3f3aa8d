#include "engine/io/open_expert_source.h"

#include "engine/io/hf_expert_source.h"
#include "engine/io/mmap_expert_source.h"
#include "engine/io/packed_expert_source.h"
#include "engine/io/packed_format.h"
#include "engine/util/error.h"

namespace streammoe {

std::unique_ptr<ExpertSource> open_expert_source(const std::filesystem::path& folder,
                                                 const WeightLoader& weights,
                                                 const ModelConfig& config,
                                                 const ExpertIoOptions& io) {
  const int64_t slots = std::max<int64_t>(config.experts_per_tok, 1);
  if (is_packed_model(folder)) {
    const PackedManifest manifest = read_packed_manifest(folder);
    check_packed_model(folder, manifest, config);
    return std::make_unique<PackedExpertSource>(folder, manifest, io, slots);
  }
  if (io.mode == IoMode::kMmap) return std::make_unique<MmapExpertSource>(weights, config);
  return std::make_unique<HfExpertSource>(weights, config, io, slots);
}

int64_t expert_params(const ModelConfig& c) {
  int64_t moe_layers = 0;
  for (FfnKind k : c.ffn_types) moe_layers += k == FfnKind::kMoe;
  return moe_layers * c.num_experts * 3 * c.moe_intermediate_size * c.hidden_size;
}

}  // namespace streammoe
