#include "engine/runtime/engine.h"

#include "engine/io/packed_format.h"
#include "engine/util/error.h"
#include "engine/util/output_file.h"

namespace streammoe {

namespace {

const EngineOptions& validated(const EngineOptions& options) {
  options.validate();
  return options;
}

// How the folder stores its resident weights: its manifest says, for a packed folder (read after
// the expert pipeline has checked it); a Hugging Face folder's are as stored.
ResidentFormat resident_format(const std::filesystem::path& folder) {
  return is_packed_model(folder) ? read_packed_manifest(folder).resident : ResidentFormat{};
}

}  // namespace

Engine::Engine(const std::filesystem::path& folder, const EngineOptions& options)
    : folder_(folder),
      options_(validated(options)),
      config_(load_config(folder)),
      store_(std::make_unique<TensorStore>(TensorStore::open(folder))),
      experts_(build_expert_pipeline(folder, *store_, config_, options_)),
      model_(Model::load(config_, *store_, *experts_.source, resident_format(folder))),
      score_(config_.num_layers),
      stats_(config_.num_layers, config_.num_experts) {
  if (options_.k > config_.num_experts)
    fail("--k {} out of range [0, {}] (the model has {} experts)", options_.k, config_.num_experts, config_.num_experts);
  model_->set_threads(options_.threads);
  model_->set_dequant(options_.dequant);
  model_->set_matvec(options_.matvec);
  model_->set_expert_order(options_.expert_order);
  model_->set_fetch_batch(options_.fetch_batch);
  if (!options_.replay_routing.empty()) replay_ = RoutingTrace::load(options_.replay_routing);
  if (!options_.record_routing.empty()) recorder_.emplace(options_.record_routing, config_, folder);
  if (options_.predictor == PredictorKind::kOracle) oracle_ = RoutingTrace::load(options_.predictor_trace);
  predictor_ = make_predictor(options_.predictor, *model_,
                              options_.predict_k > 0 ? options_.predict_k : options_.k,
                              oracle_ ? &*oracle_ : nullptr);
  routing_ = std::make_unique<RoutingPolicy>(
      *model_, options_.routing, options_.k, replay_ ? &*replay_ : nullptr,
      RoutingPolicy::Lookahead{predictor_.get(), &score_, experts_.prefetcher.get(), options_.overlap});
  model_->set_routing(routing_.get());
}

Engine::~Engine() {
  if (experts_.prefetcher) {
    try {
      experts_.prefetcher->wait();
    } catch (const std::exception&) {
      // A background read failure after the last token changes no result.
    }
  }
}

void Engine::observe_step(int64_t tokens) {
  for (int64_t row = 0; row < tokens; ++row) {
    const std::vector<Routing> routing = model_->last_routing(row);
    stats_.add_token(routing);
    score_.score(routing);
    if (recorder_) recorder_->add_token(steps_, routing);
    ++steps_;
  }
}

void Engine::finish() {
  if (experts_.prefetcher) experts_.prefetcher->wait();
  if (recorder_) recorder_->close();
  if (!options_.expert_stats.empty()) write_file(options_.expert_stats, stats_.to_json().dump(1) + "\n");
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
  j["expert_cache"] = {{"kind", enum_name(options_.expert_cache)},
                       {"hits", s.cache_hits},
                       {"misses", s.cache_misses},
                       {"evictions", s.cache_evictions},
                       {"resident_bytes", s.cache_resident_bytes},
                       {"hit_rate", s.cache_hits + s.cache_misses
                                        ? static_cast<double>(s.cache_hits) / (s.cache_hits + s.cache_misses)
                                        : 0.0}};
  if (options_.expert_cache != ExpertCacheKind::kNone && options_.cache_entries > 0)
    j["expert_cache"]["lru_hits_predicted"] = stats_.lru_hits(options_.cache_entries);
  j["prefetch"] = {{"kind", enum_name(options_.prefetch)},
                   {"overlap", enum_name(options_.overlap)},
                   {"requests", s.prefetch_requests},
                   {"experts", s.prefetched_experts},
                   {"bytes", s.prefetched_bytes},
                   {"used", s.prefetched_used},
                   {"unused_bytes", s.prefetched_unused_bytes}};
  j["predictor"] = score_.to_json();
  j["predictor"]["kind"] = enum_name(options_.predictor);
  return j;
}

}  // namespace streammoe
