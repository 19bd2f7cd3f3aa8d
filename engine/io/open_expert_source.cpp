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
                                                 const ExpertIoOptions& io,
                                                 const ExpertCacheOptions& cache) {
  const int64_t slots = std::max<int64_t>(config.experts_per_tok, 1);
  const int cache_threads = io.io_threads > 0 ? io.io_threads : static_cast<int>(slots);
  if (is_packed_model(folder)) {
    const PackedManifest manifest = read_packed_manifest(folder);
    check_packed_model(folder, manifest, config);
    auto source = std::make_unique<PackedExpertSource>(folder, manifest, io, slots);
    switch (cache.kind) {
      case ExpertCacheKind::kNone: return source;
      case ExpertCacheKind::kLru: return std::make_unique<LruExpertCache>(std::move(source), cache, cache_threads);
      case ExpertCacheKind::kLz4:
        return std::make_unique<Lz4ExpertCache>(std::move(source), folder, manifest, cache, cache_threads);
    }
  }
  if (cache.kind == ExpertCacheKind::kLz4)
    fail("{}: --expert-cache lz4 needs a packed folder written by `streammoe pack --lz4` (valid caches "
         "for a Hugging Face folder: none, lru)",
         folder.string());
  std::unique_ptr<ExpertSource> source;
  if (io.mode == IoMode::kMmap) {
    if (cache.kind != ExpertCacheKind::kNone)
      fail("{}: --expert-cache {} with --io mmap: mapped experts are already in memory (valid caches "
           "with mmap: none; or use --io pread)",
           folder.string(), expert_cache_name(cache.kind));
    return std::make_unique<MmapExpertSource>(weights, config);
  }
  source = std::make_unique<HfExpertSource>(weights, config, io, slots);
  if (cache.kind == ExpertCacheKind::kLru)
    return std::make_unique<LruExpertCache>(std::move(source), cache, cache_threads);
  return source;
}

int64_t expert_params(const ModelConfig& c) {
  int64_t moe_layers = 0;
  for (FfnKind k : c.ffn_types) moe_layers += k == FfnKind::kMoe;
  return moe_layers * c.num_experts * 3 * c.moe_intermediate_size * c.hidden_size;
}

}  // namespace streammoe
