#pragma once
// EngineOptions: every runtime switch of the engine, each declared ONCE in visit() with its name,
// help and valid values. Command-line flags, variant files, `streammoe options --json` and the
// options block of every result are all derived from that one declaration.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace streammoe {

struct EngineOptions {
  int64_t k = 0;                 // top-K override; 0 keeps the model's
  std::string routing = "exact"; // exact | early (speculative early routing, lossy)
  int64_t threads = 1;           // compute threads
  std::string dequant = "fma";   // naive | fma (packed models)
  std::string record_routing;    // file to write the routing trace to
  std::string replay_routing;    // routing trace to follow instead of the routers
  std::string expert_stats;      // file to write per-(layer, expert) activation statistics to
  std::string io = "pread";      // how expert bytes are read (engine/io/io_mode.h)
  int64_t io_threads = 0;        // parallel expert reads; 0: one per routed expert
  std::string expert_cache = "none";  // none | lru | lz4 (engine/io/expert_cache.h)
  int64_t cache_entries = 0;
  int64_t cache_bytes = 0;
  std::string prefetch = "none";      // none | willneed | async (engine/io/prefetcher.h)
  std::string predictor = "none";     // none | temporal | early-routing | oracle (runtime/predictor.h)
  std::string predictor_trace;        // routing trace the oracle predictor reads
  std::string overlap = "serial";     // serial | pipelined
  int64_t expert_bits = 0;            // 0: any; 2 or 4: the model folder must be packed at that width

  // Calls v.option(name, field, help, valid_values) for every switch, in display order.
  template <typename Visitor>
  void visit(Visitor&& v) {
    v.option("k", k, "routed experts per token (top-K); 0 keeps the model's value", {});
    v.option("routing", routing,
             "exact: each layer's router decides; early: decided one MoE layer ahead from the previous "
             "layer's input (speculative early routing, lossy)",
             {"exact", "early"});
    v.option("threads", threads, "compute threads", {});
    v.option("dequant", dequant, "dequantisation formulation of packed experts", {"naive", "fma"});
    v.option("record-routing", record_routing, "write the routing trace (token, layer, experts, weights) to FILE", {});
    v.option("replay-routing", replay_routing, "follow the routing trace in FILE instead of the routers", {});
    v.option("expert-stats", expert_stats, "write per-(layer, expert) activation counts and reuse statistics to FILE", {});
    v.option("io", io, "how expert bytes are read: pread, O_DIRECT, pread+DONTNEED, mmap views, io_uring batch",
             {"pread", "direct", "dontneed", "mmap", "uring"});
    v.option("io-threads", io_threads, "parallel expert reads per layer; 0: one per routed expert", {});
    v.option("expert-cache", expert_cache,
             "experts kept in process memory: none (trust the OS page cache), lru (decoded records), lz4 "
             "(LZ4-compressed records; needs pack --lz4)",
             {"none", "lru", "lz4"});
    v.option("cache-entries", cache_entries, "expert cache capacity in experts (0: no entry limit)", {});
    v.option("cache-bytes", cache_bytes, "expert cache capacity in bytes (0: no byte limit)", {});
    v.option("prefetch", prefetch,
             "what is done with the predicted next-layer experts: nothing, posix_fadvise WILLNEED, or "
             "background reads into the expert cache",
             {"none", "willneed", "async"});
    v.option("predictor", predictor,
             "how the next layer's experts are predicted: previous token's (temporal), next router on "
             "this layer's input (early-routing), a recorded trace (oracle)",
             {"none", "temporal", "early-routing", "oracle"});
    v.option("predictor-trace", predictor_trace, "routing trace (--record-routing format) for --predictor oracle", {});
    v.option("overlap", overlap, "serial: prefetches complete before compute; pipelined: they run behind it",
             {"serial", "pipelined"});
    v.option("expert-bits", expert_bits,
             "expected expert width of the packed model folder (2 or 4; 0: any); bits are chosen by the "
             "model path, this switch records and checks it",
             {});
  }

  // Sets a switch from its string form; Error listing the valid values on a bad one.
  void set(const std::string& name, const std::string& value);
  // Applies a variant: a name under variants/ (variants/<name>.yaml) or a YAML file path.
  void apply_variant(const std::string& name_or_file, const std::filesystem::path& variants_dir);
  nlohmann::json to_json() const;
  // [{name, type, default, values, help}], what `streammoe options --json` prints.
  static nlohmann::json describe();
};

}  // namespace streammoe
