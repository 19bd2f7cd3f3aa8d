#include "engine/runtime/engine.h"

#include <fstream>

#include "engine/io/packed_format.h"
#include "engine/util/error.h"

namespace streammoe {

ExpertPipelineOptions parse_pipeline_options(const EngineOptions& o) {
  ExpertPipelineOptions p;
  if (!parse_io_mode(o.io, &p.io.mode)) fail("--io: invalid value '{}' (valid: pread, direct, dontneed, mmap, uring)", o.io);
#ifndef STREAMMOE_HAVE_URING
  if (p.io.mode == IoMode::kUring)
    fail("--io uring: this build has no liburing (STREAMMOE_HAVE_URING unset; valid here: pread, direct, "
         "dontneed, mmap)");
#endif
  if (o.io_threads < 0 || o.io_threads > 256) fail("--io-threads {} out of range [0, 256]", o.io_threads);
  p.io.io_threads = static_cast<int>(o.io_threads);
  if (!parse_expert_cache(o.expert_cache, &p.cache.kind))
    fail("--expert-cache: invalid value '{}' (valid: none, lru, lz4)", o.expert_cache);
  if (o.cache_entries < 0 || o.cache_bytes < 0) fail("--cache-entries/--cache-bytes must not be negative");
  p.cache.entries = o.cache_entries;
  p.cache.bytes = o.cache_bytes;
  if (p.cache.kind == ExpertCacheKind::kNone && (o.cache_entries > 0 || o.cache_bytes > 0))
    fail("--cache-entries/--cache-bytes given with --expert-cache none (valid caches: lru, lz4)");
  if (p.cache.kind != ExpertCacheKind::kNone && o.cache_entries == 0 && o.cache_bytes == 0)
    fail("--expert-cache {}: needs a capacity, --cache-entries N or --cache-bytes N", o.expert_cache);
  if (!parse_prefetch(o.prefetch, &p.prefetch))
    fail("--prefetch: invalid value '{}' (valid: none, willneed, async)", o.prefetch);
  if (!parse_predictor(o.predictor, &p.predictor))
    fail("--predictor: invalid value '{}' (valid: none, temporal, early-routing, oracle)", o.predictor);
  if (o.overlap != "serial" && o.overlap != "pipelined")
    fail("--overlap: invalid value '{}' (valid: serial, pipelined)", o.overlap);
  p.pipelined = o.overlap == "pipelined";
  if (p.prefetch != PrefetchKind::kNone && p.predictor == PredictorKind::kNone)
    fail("--prefetch {} needs a --predictor (valid: temporal, early-routing, oracle)", o.prefetch);
  if (p.prefetch == PrefetchKind::kAsync && p.cache.kind == ExpertCacheKind::kNone)
    fail("--prefetch async reads into the expert cache: needs --expert-cache lru or lz4 (with --expert-cache "
         "none use --prefetch willneed)");
  if (p.pipelined && p.prefetch == PrefetchKind::kNone)
    fail("--overlap pipelined overlaps prefetch reads with compute: needs --prefetch willneed or async");
  if (p.predictor == PredictorKind::kOracle && o.predictor_trace.empty())
    fail("--predictor oracle needs --predictor-trace FILE (a --record-routing trace of the same tokens)");
  if (o.expert_bits != 0 && o.expert_bits != 2 && o.expert_bits != 4)
    fail("--expert-bits: invalid value {} (valid: 0, 2, 4)", o.expert_bits);
  return p;
}

Engine::Engine(const std::string& folder, const EngineOptions& options)
    : folder_(folder),
      options_(options),
      pipeline_(parse_pipeline_options(options)),
      model_(Model::load(folder, pipeline_.io, pipeline_.cache)),
      stats_(model_->config().num_layers, model_->config().num_experts),
      score_(model_->config().num_layers) {
  if (options.expert_bits != 0) {
    if (!is_packed_model(folder))
      fail("{}: --expert-bits {} but the folder is not packed (its experts are unquantised; pack it with "
           "`streammoe pack --bits {}`)",
           folder, options.expert_bits, options.expert_bits);
    const int bits = read_packed_manifest(folder).layout.bits;
    if (bits != options.expert_bits)
      fail("{}: --expert-bits {} but the folder is packed at {} bits", folder, options.expert_bits, bits);
  }
  model_->set_top_k(options.k);
  model_->set_threads(options.threads);
  model_->set_early_routing(options.routing == "early");
  DequantMode dequant;
  if (!parse_dequant_mode(options.dequant, &dequant)) fail("--dequant: invalid value '{}' (valid: naive, fma)", options.dequant);
  model_->set_dequant(dequant);
  if (!options.replay_routing.empty()) {
    replay_ = RoutingTrace::load(options.replay_routing);
    model_->set_routing_replay(&*replay_);
  }
  if (!options.record_routing.empty()) recorder_.emplace(options.record_routing, model_->config(), folder);
  if (pipeline_.predictor == PredictorKind::kOracle) oracle_ = RoutingTrace::load(options.predictor_trace);
  predictor_ = make_predictor(pipeline_.predictor, *model_, oracle_ ? &*oracle_ : nullptr);
  switch (pipeline_.prefetch) {
    case PrefetchKind::kNone: break;
    case PrefetchKind::kWillneed: prefetcher_ = std::make_unique<WillneedPrefetcher>(model_->expert_source()); break;
    case PrefetchKind::kAsync: {
      auto* cache = dynamic_cast<LruExpertCache*>(&model_->expert_source());
      if (!cache) fail("--prefetch async: the expert source has no cache to read into");
      prefetcher_ = std::make_unique<AsyncPrefetcher>(*cache);
      break;
    }
  }
  if (predictor_)
    model_->set_lookahead([this](int64_t pos, int64_t layer, std::span<const float> x) { lookahead(pos, layer, x); });
}

Engine::~Engine() {
  if (prefetcher_) {
    try {
      prefetcher_->wait();
    } catch (const std::exception&) {
      // A background read failure after the last token changes no result.
    }
  }
}

void Engine::lookahead(int64_t pos, int64_t layer, std::span<const float> x) {
  const int64_t next = model_->next_moe_layer(layer);
  if (next < 0) return;
  std::vector<int32_t> guess = predictor_->predict(pos, next, x);
  score_.predicted(next, guess);
  if (!prefetcher_ || guess.empty()) return;
  prefetcher_->prefetch(next, std::move(guess));
  if (!pipeline_.pipelined) prefetcher_->wait();
}

void Engine::observe_step() {
  const std::vector<Routing> routing = model_->last_routing();
  stats_.add_token(routing);
  score_.score(routing);
  if (recorder_) recorder_->add_token(steps_, routing);
  ++steps_;
}

void Engine::finish() {
  if (prefetcher_) prefetcher_->wait();
  if (options_.expert_stats.empty()) return;
  std::ofstream out(options_.expert_stats);
  if (!out) fail("{}: cannot open for writing", options_.expert_stats);
  out << stats_.to_json().dump(1) << "\n";
}

nlohmann::json Engine::telemetry() const {
  const int64_t warm = stats_.accesses() - stats_.cold_accesses();
  nlohmann::json j = {{"routing_tokens", stats_.tokens()},
                      {"expert_accesses", stats_.accesses()},
                      {"cold_accesses", stats_.cold_accesses()}};
  nlohmann::json hist = nlohmann::json::array();
  const auto& h = stats_.stack_distance_histogram();
  for (size_t b = 0; b < h.size(); ++b) hist.push_back({{"min_distance", RoutingStats::bucket_low(b)}, {"count", h[b]}});
  j["stack_distance_histogram"] = hist;
  j["warm_accesses"] = warm;

  const ExpertIoStats& s = model_->expert_io_stats();
  j["expert_io"] = {{"fetches", s.fetches},
                    {"experts_loaded", s.experts_loaded},
                    {"bytes_read", s.bytes_read},
                    {"bytes_from_cache", s.bytes_from_cache},
                    {"bytes_from_page_cache", s.bytes_from_page_cache},
                    {"bytes_from_disk", s.bytes_from_disk},
                    {"page_cache_residency",
                     s.bytes_read ? static_cast<double>(s.bytes_from_page_cache) / s.bytes_read : 0.0}};
  j["expert_cache"] = {{"kind", options_.expert_cache},
                       {"hits", s.cache_hits},
                       {"misses", s.cache_misses},
                       {"evictions", s.cache_evictions},
                       {"resident_bytes", s.cache_resident_bytes},
                       {"hit_rate", s.cache_hits + s.cache_misses
                                        ? static_cast<double>(s.cache_hits) / (s.cache_hits + s.cache_misses)
                                        : 0.0}};
  if (options_.expert_cache != "none" && options_.cache_entries > 0)
    j["expert_cache"]["lru_hits_predicted"] = stats_.lru_hits(options_.cache_entries);
  j["prefetch"] = {{"kind", options_.prefetch},
                   {"overlap", options_.overlap},
                   {"requests", s.prefetch_requests},
                   {"experts", s.prefetched_experts},
                   {"bytes", s.prefetched_bytes},
                   {"used", s.prefetched_used},
                   {"unused_bytes", s.prefetched_unused_bytes}};
  j["predictor"] = score_.to_json();
  j["predictor"]["kind"] = options_.predictor;
  return j;
}

}  // namespace streammoe
