#pragma once
// A loaded model: config, weights (views into the checkpoint), experts behind an ExpertSource,
// and one forward() that consumes a token and produces logits, mirroring transformers'
//   h = embed(token)
//   for each layer: h += mixer(input_norm(h));  h += ffn(post_attention_norm(h))
//   logits = lm_head(norm(h))
// where mixer is Gated DeltaNet or softmax attention (layer_types) and ffn the MoE block (or a
// dense MLP). Architecture-specific tensor names live in one file per architecture.
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/blocks/attention.h"
#include "engine/blocks/gated_delta_net.h"
#include "engine/blocks/moe_ffn.h"
#include "engine/blocks/rope.h"
#include "engine/io/expert_cache.h"
#include "engine/io/io_mode.h"
#include "engine/model/config.h"
#include "engine/model/safetensors.h"
#include "engine/util/phase_timer.h"

namespace streammoe {

// The per-sequence state: position, KV caches of full-attention layers, recurrent states of
// linear-attention layers (indexed by layer; unused slots stay empty).
struct ModelState {
  int64_t pos = 0;
  std::vector<KvCache> kv;
  std::vector<DeltaNetState> delta;
};

// Everything one decoder layer holds; filled by the architecture's loader.
struct DecoderLayer {
  LayerKind mixer_kind = LayerKind::kFullAttention;
  FfnKind ffn_kind = FfnKind::kMoe;
  std::vector<float> input_norm;
  std::vector<float> post_attention_norm;
  std::unique_ptr<Attention> attention;
  std::unique_ptr<GatedDeltaNet> delta_net;
  std::unique_ptr<MoeBlock> moe;
  MlpWeights dense;  // FfnKind::kDense
};

class WeightLoader;
class RoutingTrace;
class ThreadPool;

// Per-architecture tensor naming (models/<arch>.cpp).
struct ArchLoader {
  Arch arch;
  void (*load_layer)(const WeightLoader& w, const ModelConfig& c, int64_t layer, const Rope& rope,
                     ExpertSource& experts, DecoderLayer& out);
};
const ArchLoader& qwen3_5_moe_loader();
const ArchLoader& qwen3_moe_loader();

class Model {
 public:
  // Loads a Hugging Face model folder (config.json + safetensors) or a packed one (streammoe.json,
  // written by `streammoe pack` / `synth`); `io` picks how experts are read, `cache` whether they
  // are kept in process memory.
  static std::unique_ptr<Model> load(const std::filesystem::path& folder, const ExpertIoOptions& io = {},
                                     const ExpertCacheOptions& cache = {});
  ~Model();

  const ModelConfig& config() const { return config_; }
  ModelState new_state() const;
  // Consumes `token` at position state.pos (then pos+1); writes logits [vocab].
  void forward(ModelState& state, int32_t token, std::span<float> logits, PhaseTimes* times = nullptr);
  // The routing of the last forward(), per MoE layer (empty for dense layers).
  std::vector<Routing> last_routing() const;
  // Overrides top-K of every MoE layer (0 restores the model's K).
  void set_top_k(int64_t k);
  // Compute threads for every matrix-vector product (1: no pool).
  void set_threads(int64_t threads);
  void set_dequant(DequantMode mode);
  // Follow a recorded routing trace instead of the routers (nullptr: route normally).
  void set_routing_replay(const RoutingTrace* trace);
  // Route every MoE layer but the first with its router applied to the previous MoE layer's
  // input (speculative early routing; lossy).
  void set_early_routing(bool enabled);
  int64_t params_total() const { return params_total_; }
  int64_t params_active() const { return params_active_; }
  // What the expert source has read so far (bytes/token telemetry).
  const ExpertIoStats& expert_io_stats() const { return experts_->stats(); }
  ExpertSource& expert_source() { return *experts_; }
  // The MoE block of `layer` (nullptr for dense layers), e.g. for an early-routing predictor.
  MoeBlock* moe_block(int64_t layer) { return layers_.at(layer).moe.get(); }
  // The next MoE layer after `layer`, or -1.
  int64_t next_moe_layer(int64_t layer) const;
  // Called inside every MoE layer between its expert fetch and its compute, with the position,
  // the layer and the block's input (the hook of prefetchers); empty: none.
  using Lookahead = std::function<void(int64_t pos, int64_t layer, std::span<const float> x)>;
  void set_lookahead(Lookahead hook) { lookahead_ = std::move(hook); }

 private:
  Model() = default;
  ModelConfig config_;
  std::unique_ptr<TensorStore> store_;
  std::unique_ptr<ExpertSource> experts_;
  std::unique_ptr<Rope> rope_;
  const RoutingTrace* replay_ = nullptr;
  bool early_routing_ = false;
  std::vector<Routing> early_;  // [layer] routing decided one MoE layer early
  Lookahead lookahead_;
  std::unique_ptr<ThreadPool> pool_;
  MatRef embed_;
  MatRef lm_head_;
  std::vector<float> final_norm_;
  std::vector<DecoderLayer> layers_;
  std::vector<float> h_, normed_, mixed_;
  std::vector<float> dense_gate_, dense_up_;  // scratch of dense MLP layers, reused every token
  int64_t params_total_ = 0, params_active_ = 0;
};

}  // namespace streammoe
