#pragma once
// The expert I/O pipeline of an Engine, built from the switches in this one place:
//   source      packed folder (streammoe.json) -> PackedExpertSource (io pread | direct |
//                                                 dontneed | uring | mmap)
//               Hugging Face folder            -> HfExpertSource (io pread | dontneed)
//                                                 MmapExpertSource (io mmap)
//   cache       expert-cache lru | lz4         -> LruExpertCache / Lz4ExpertCache around the source
//   prefetcher  prefetch willneed              -> WillneedPrefetcher (inside a BackgroundPrefetcher
//                                                 with --overlap pipelined)
//               prefetch async                 -> CachePrefetcher inside a BackgroundPrefetcher
// (the predictor that feeds the prefetcher needs the model, so the Engine makes it afterwards).
// Rules that depend on the folder (packed or not, its expert width, LZ4 files) are checked here,
// before anything is opened.
#include <filesystem>
#include <memory>

#include "engine/io/expert_cache.h"
#include "engine/io/expert_source.h"
#include "engine/io/prefetcher.h"
#include "engine/model/config.h"
#include "engine/model/safetensors.h"
#include "engine/runtime/options.h"

namespace streammoe {

struct ExpertPipeline {
  std::unique_ptr<ExpertSource> source;    // what the model fetches from: the cache if there is one
  LruExpertCache* cache = nullptr;         // the cache inside `source`, or nullptr
  std::unique_ptr<Prefetcher> prefetcher;  // nullptr for prefetch none
};

// `store` is the folder's checkpoint (HF experts are views or reads of its tensors).
ExpertPipeline build_expert_pipeline(const std::filesystem::path& folder, const TensorStore& store,
                                     const ModelConfig& config, const EngineOptions& options);

}  // namespace streammoe
