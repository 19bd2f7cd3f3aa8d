#pragma once
// EngineOptions: every runtime switch of the engine, typed (an enum, a number or a path), each
// declared ONCE in visit() with its name and help. An enum switch's valid values come from the
// NameTable beside its enum (engine/util/name_table.h). Command-line flags, variant files,
// `streammoe options --json` and the options block of every result are all derived from visit();
// strings are parsed once, by set(), at the boundary. Which combinations are allowed is decided
// in one place, validate().
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/expert_cache.h"
#include "engine/io/io_mode.h"
#include "engine/io/prefetcher.h"
#include "engine/ops/linear.h"
#include "engine/ops/quant_matvec.h"
#include "engine/runtime/predictor.h"
#include "engine/runtime/routing_policy.h"

namespace streammoe {

// The default of --threads: every core (std::thread::hardware_concurrency; 1 when it cannot
// tell), at most validate()'s limit of 256. A number, never "auto", so that every result records
// the threads it ran with.
inline int64_t default_compute_threads() {
  return std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 256);
}

struct EngineOptions {
  int64_t k = 0;                                 // top-K override; 0 keeps the model's
  RoutingMode routing = RoutingMode::kExact;
  int64_t threads = default_compute_threads();  // compute threads
  int64_t prefill_chunk = 1;                     // prompt tokens per forward (expert-major MoE)
  int64_t fetch_batch = 0;                       // experts a MoE layer reads together; 0: K
  DequantMode dequant = DequantMode::kFma;       // packed models
  MatvecPath matvec = MatvecPath::kF32;          // how quantised weights meet x
  std::filesystem::path record_routing;          // file to write the routing trace to
  std::filesystem::path replay_routing;          // routing trace to follow instead of the routers
  std::filesystem::path expert_stats;            // per-(layer, expert) activation statistics
  IoMode io = IoMode::kPread;                    // how expert bytes are read
  int64_t io_threads = 0;                        // parallel expert reads; 0: one per routed expert
  Readahead readahead = Readahead::kKernel;      // the kernel's readahead on expert files, or none
  ExpertOrder expert_order = ExpertOrder::kAll;  // compute experts after all K reads, or as each lands
  ExpertCacheKind expert_cache = ExpertCacheKind::kNone;
  int64_t cache_entries = 0;
  int64_t cache_bytes = 0;
  PrefetchKind prefetch = PrefetchKind::kNone;
  PredictorKind predictor = PredictorKind::kNone;
  std::filesystem::path predictor_trace;         // routing trace the oracle predictor reads
  int64_t predict_k = 0;                         // experts a prediction names; 0: the routing's K
  OverlapMode overlap = OverlapMode::kSerial;
  int64_t expert_bits = 0;                       // 0: any; 2 or 4: the folder must be packed so

  // Calls v.option(name, field, help) for every switch, in display order.
  template <typename Visitor>
  void visit(Visitor&& v) {
    v.option("k", k,
             "routed experts per token (top-K); 0 keeps the model's value; under --replay-routing the first K of "
             "the trace's choices, renormalised as the router's top-K (at most the trace's K)");
    v.option("routing", routing,
             "where each MoE layer's routing decision comes from; a decision made a layer early is what --prefetch "
             "reads (no --predictor)");
    v.option("threads", threads, "compute threads (default: the number of cores)");
    v.option("prefill-chunk", prefill_chunk,
             "prompt tokens consumed per forward pass: each MoE layer fetches each distinct routed expert once "
             "per chunk (1: token by token; logits are identical)");
    v.option("fetch-batch", fetch_batch,
             "experts a MoE layer reads together in a chunked prefill (one fetch, --io-threads reads in flight; "
             "with --expert-order arrival each is computed as it lands, overlapping the rest); 0: the routing's K");
    v.option("dequant", dequant, "dequantisation formulation of packed experts");
    v.option("matvec", matvec,
             "how quantised weights (packed experts, quantised resident weights) meet the activations; "
             "dense weights use the f32 kernels on either path");
    v.option("record-routing", record_routing, "write the routing trace (token, layer, experts, weights) to FILE");
    v.option("replay-routing", replay_routing,
             "follow the routing trace in FILE instead of the routers (--k N keeps the first N of each routing; "
             "--routing early prefetches the next layer's replayed choice)");
    v.option("expert-stats", expert_stats, "write per-(layer, expert) activation counts and reuse statistics to FILE");
    v.option("io", io, "how expert bytes are read");
    v.option("io-threads", io_threads, "parallel expert reads per layer; 0: one per routed expert");
    v.option("readahead", readahead,
             "the kernel's readahead on expert files, or none (a random access hint: each read "
             "loads exactly its expert's bytes)");
    v.option("expert-order", expert_order,
             "when a layer's routed experts are computed: after all K reads, or each as its read lands (lossless: "
             "the same sums in the same order; only packed pread/direct/dontneed/uring reads without an expert "
             "cache land one by one, other sources behave as all)");
    v.option("expert-cache", expert_cache, "experts kept in process memory");
    v.option("cache-entries", cache_entries, "expert cache capacity in experts (0: no entry limit)");
    v.option("cache-bytes", cache_bytes, "expert cache capacity in bytes (0: no byte limit)");
    v.option("prefetch", prefetch,
             "what is done with the next MoE layer's experts: the --predictor's guess, or with --routing early the "
             "decision made a layer ahead");
    v.option("predictor", predictor, "how the next MoE layer's experts are predicted");
    v.option("predictor-trace", predictor_trace, "routing trace (--record-routing format) for the oracle predictor");
    v.option("predict-k", predict_k,
             "experts per layer a --predictor names (its N most likely; what --prefetch reads), 0: "
             "the routing's K");
    v.option("overlap", overlap, "whether prefetch reads overlap the layer's compute");
    v.option("expert-bits", expert_bits,
             "expected expert width of the packed model folder (2 or 4; 0: any); bits are chosen by the "
             "model path, this switch records and checks it");
  }

  // Sets a switch from its string form; Error listing the valid values on a bad one.
  void set(const std::string& name, const std::string& value);
  // Applies a variant: a name under variants/ (variants/<name>.yaml) or a YAML file path.
  void apply_variant(const std::string& name_or_file, const std::filesystem::path& variants_dir);
  // Every rule on values and on which switches combine; Error naming the switches and why.
  // Rules that depend on the model folder (packed or not, its K) are checked where the
  // expert pipeline is built (engine/runtime/expert_pipeline.cpp).
  void validate() const;
  nlohmann::json to_json() const;
  // [{name, type, default, values, help}], what `streammoe options --json` prints.
  static nlohmann::json describe();
};

}  // namespace streammoe
