#include "engine/runtime/expert_pipeline.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "engine/io/hf_expert_source.h"
#include "engine/io/lz4_experts.h"
#include "engine/io/mmap_expert_source.h"
#include "engine/io/packed_expert_source.h"
#include "engine/io/packed_format.h"
#include "engine/model/weights.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

constexpr IoMode kPackedIoModes[] = {IoMode::kPread, IoMode::kDirect, IoMode::kDontneed,
                                     IoMode::kUring, IoMode::kMmap};
constexpr IoMode kHfIoModes[] = {IoMode::kPread, IoMode::kDontneed, IoMode::kMmap};

// "a, b or c"
template <typename Enum>
std::string one_of(std::span<const Enum> values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i)
    out += std::string(i == 0                   ? ""
                       : i + 1 == values.size() ? " or "
                                                : ", ") +
           std::string(enum_name(values[i]));
  return out;
}

bool allowed(std::span<const IoMode> modes, IoMode mode) {
  return std::ranges::find(modes, mode) != modes.end();
}

void check_packed_folder(const std::filesystem::path& folder, const PackedManifest& m,
                         const EngineOptions& o) {
  if (!allowed(kPackedIoModes, o.io))
    fail("{}: --io {} is not available for packed models (valid: {})", folder.string(),
         enum_name(o.io), one_of<IoMode>(kPackedIoModes));
  if (o.io == IoMode::kDirect && m.layout.expert_stride % kDirectIoAlignment != 0)
    fail(
        "{}: --io {} needs expert strides that are multiples of {} bytes, this pack has {} (valid "
        "for it: {})",
        folder.string(), enum_name(o.io), kDirectIoAlignment, m.layout.expert_stride,
        kIoModeNames.join(", ", IoMode::kDirect));
  if (o.expert_cache == ExpertCacheKind::kLz4 && !has_lz4_experts(folder, m))
    fail(
        "{}: no LZ4 expert files; --expert-cache {} needs a folder packed with `streammoe pack "
        "--lz4` (valid "
        "caches without them: {})",
        folder.string(), enum_name(o.expert_cache),
        kExpertCacheNames.join(", ", ExpertCacheKind::kLz4));
  if (o.expert_bits != 0 && m.layout.bits != o.expert_bits)
    fail("{}: --expert-bits {} but the folder is packed at {} bits", folder.string(), o.expert_bits,
         m.layout.bits);
}

void check_hf_folder(const std::filesystem::path& folder, const EngineOptions& o) {
  if (!allowed(kHfIoModes, o.io))
    fail("{}: --io {} is not available for Hugging Face folders (valid: {})", folder.string(),
         enum_name(o.io), one_of<IoMode>(kHfIoModes));
  if (o.expert_cache == ExpertCacheKind::kLz4)
    fail(
        "{}: --expert-cache {} needs a packed folder written by `streammoe pack --lz4` (valid "
        "caches for a "
        "Hugging Face folder: {})",
        folder.string(), enum_name(o.expert_cache),
        kExpertCacheNames.join(", ", ExpertCacheKind::kLz4));
  if (o.io == IoMode::kMmap && o.expert_cache != ExpertCacheKind::kNone)
    fail(
        "{}: --expert-cache {} with --io {}: mapped experts are already in memory (valid caches "
        "with {}: {}; or "
        "use --io {})",
        folder.string(), enum_name(o.expert_cache), enum_name(o.io), enum_name(o.io),
        enum_name(ExpertCacheKind::kNone), enum_name(IoMode::kPread));
  if (o.io == IoMode::kMmap && o.readahead == Readahead::kOff)
    fail(
        "{}: --readahead {} with --io {}: the hint covers expert files read by pread, not the "
        "safetensors mappings; use --io {}",
        folder.string(), enum_name(o.readahead), enum_name(o.io),
        one_of<IoMode>(std::span(kHfIoModes).first(2)));
  if (o.io == IoMode::kMmap && o.prefetch == PrefetchKind::kWillneed)
    fail(
        "{}: --prefetch {} with --io {}: mapped experts have no file ranges to advise; use --io {}",
        folder.string(), enum_name(o.prefetch), enum_name(o.io),
        one_of<IoMode>(std::span(kHfIoModes).first(2)));
  if (o.expert_bits != 0)
    fail(
        "{}: --expert-bits {} but the folder is not packed (its experts are unquantised; pack it "
        "with "
        "`streammoe pack --bits {}`)",
        folder.string(), o.expert_bits, o.expert_bits);
}

}  // namespace

ExpertPipeline build_expert_pipeline(const std::filesystem::path& folder, const TensorStore& store,
                                     const ModelConfig& config, const EngineOptions& o) {
  const int64_t slots = std::max<int64_t>(config.experts_per_tok, 1);
  const ExpertIoOptions io{o.io, static_cast<int>(o.io_threads), o.readahead};
  ExpertPipeline p;
  std::optional<PackedManifest> manifest;
  if (is_packed_model(folder)) {
    manifest = read_packed_manifest(folder);
    check_packed_model(folder, *manifest, config);
    check_packed_folder(folder, *manifest, o);
    p.source = std::make_unique<PackedExpertSource>(folder, *manifest, io, slots);
  } else {
    check_hf_folder(folder, o);
    const WeightLoader weights(store, config.tensor_prefix);
    if (o.io == IoMode::kMmap)
      p.source = std::make_unique<MmapExpertSource>(weights, config);
    else
      p.source = std::make_unique<HfExpertSource>(weights, config, io, slots);
  }

  const ExpertCacheOptions cache{o.expert_cache, o.cache_entries, o.cache_bytes};
  const int cache_threads =
      o.io_threads > 0 ? static_cast<int>(o.io_threads) : static_cast<int>(slots);
  std::unique_ptr<LruExpertCache> wrapped;
  switch (o.expert_cache) {
    case ExpertCacheKind::kNone:
      break;
    case ExpertCacheKind::kLru:
      wrapped = std::make_unique<LruExpertCache>(std::move(p.source), cache, cache_threads);
      break;
    case ExpertCacheKind::kLz4:
      wrapped = std::make_unique<Lz4ExpertCache>(std::move(p.source), folder, *manifest, cache,
                                                 cache_threads);
      break;
  }
  if (wrapped) {
    p.cache = wrapped.get();
    p.source = std::move(wrapped);
  }

  switch (o.prefetch) {
    case PrefetchKind::kNone:
      break;
    case PrefetchKind::kWillneed:
      p.prefetcher = std::make_unique<WillneedPrefetcher>(*p.source);
      if (o.overlap == OverlapMode::kPipelined)
        p.prefetcher = std::make_unique<BackgroundPrefetcher>(std::move(p.prefetcher));
      break;
    case PrefetchKind::kAsync:
      p.prefetcher =
          std::make_unique<BackgroundPrefetcher>(std::make_unique<CachePrefetcher>(*p.cache));
      break;
  }
  return p;
}

}  // namespace streammoe
