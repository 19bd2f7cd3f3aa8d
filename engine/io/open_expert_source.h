#pragma once
// Picks the expert source for a model folder and I/O mode, the one place that does:
//   packed folder (streammoe.json)  -> PackedExpertSource   (pread | direct | dontneed)
//   Hugging Face folder             -> HfExpertSource       (pread | dontneed)
//                                      MmapExpertSource     (mmap)
// and, for --expert-cache lru | lz4, wraps it in LruExpertCache / Lz4ExpertCache.
#include <filesystem>
#include <memory>

#include "engine/io/expert_cache.h"
#include "engine/io/expert_source.h"
#include "engine/io/io_mode.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace streammoe {

// For a packed folder the manifest is read and checked against `config` and the files first.
std::unique_ptr<ExpertSource> open_expert_source(const std::filesystem::path& folder,
                                                 const WeightLoader& weights,
                                                 const ModelConfig& config,
                                                 const ExpertIoOptions& io,
                                                 const ExpertCacheOptions& cache = {});

// Parameters held by the experts of a model folder, whether they are tensors of the checkpoint
// (HF) or records of the expert files (packed): for params_total / params_active.
int64_t expert_params(const ModelConfig& config);

}  // namespace streammoe
