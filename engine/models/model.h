#pragma once
// A loaded model: config, weights (views into the checkpoint), experts behind an ExpertSource,
// and one forward() that consumes a token and produces logits, mirroring transformers'
//   h = embed(token)
//   for each layer: h += mixer(input_norm(h));  h += ffn(post_attention_norm(h))
//   logits = lm_head(norm(h))
// where mixer is Gated DeltaNet or softmax attention (layer_types) and ffn the MoE block (or a
// dense MLP). Architecture-specific tensor names live in one file per architecture.
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "engine/blocks/attention.h"
#include "engine/blocks/gated_delta_net.h"
#include "engine/blocks/moe_ffn.h"
#include "engine/blocks/rope.h"
#include "engine/model/config.h"
#include "engine/model/safetensors.h"
#include "engine/models/resident_format.h"
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

class ResidentWeights;
class ModelTensors;
class ThreadPool;

// Per-architecture tensor naming (models/<arch>.cpp).
struct ArchLoader {
  Arch arch;
  void (*load_layer)(const ResidentWeights& weights, const TensorStore& store,
                     const ModelTensors& tensors, const ModelConfig& c, int64_t layer,
                     const Rope& rope, ExpertSource& experts, DecoderLayer& out);
};
const ArchLoader& qwen3_5_moe_loader();
const ArchLoader& qwen3_moe_loader();

class Model {
 public:
  // Builds the model over a checkpoint's resident weights (`store`, which must outlive the
  // model) and the routed experts of `experts` (the engine's expert pipeline, engine/runtime;
  // it must outlive the model too). `resident` is how the folder stores its resident weights (a
  // packed folder's manifest; 16-bit for a Hugging Face folder).
  static std::unique_ptr<Model> load(const ModelConfig& config, const TensorStore& store,
                                     ExpertSource& experts, const ResidentFormat& resident = {});
  ~Model();

  const ModelConfig& config() const { return config_; }
  ModelState new_state() const;
  // Consumes `tokens` at positions state.pos, state.pos + 1, ... (then pos += T) as one chunk:
  // each layer runs over the whole chunk, the MoE layers expert-major (each distinct routed expert
  // fetched once per chunk; engine/blocks/moe_ffn.h). Results are bit-identical to consuming the
  // tokens one at a time. Logits are computed where they are needed: for every token when
  // logits.size() == T * vocab (eval), for the last one when it is vocab (decode, a prompt's last
  // chunk), for none when logits is empty (the prompt's earlier chunks: no lm_head).
  void forward(ModelState& state, std::span<const int32_t> tokens, std::span<float> logits,
               PhaseTimes* times = nullptr);
  void forward(ModelState& state, int32_t token, std::span<float> logits, PhaseTimes* times = nullptr) {
    forward(state, std::span<const int32_t>(&token, 1), logits, times);
  }
  // The routing of token `row` of the last forward() (-1: its last token), per layer (empty for
  // dense layers).
  std::vector<Routing> last_routing(int64_t row = -1) const;
  // How MoE layers route (nullptr: each layer's own router, the model's K).
  void set_routing(MoeRouting* routing) { routing_ = routing ? routing : &exact_routing_; }
  // Compute threads for every matrix-vector product (1: no pool).
  void set_threads(int64_t threads);
  void set_dequant(DequantMode mode);
  void set_expert_order(ExpertOrder order);
  void set_fetch_batch(int64_t experts);  // MoeBlock::set_fetch_batch
  // How every quantised weight meets its input (--matvec; ops/linear.h): routed experts and any
  // quantised resident weight; dense weights take the f32 kernels either way.
  void set_matvec(MatvecPath path);
  int64_t params_total() const { return params_total_; }
  int64_t params_active() const { return params_active_; }
  // What the expert source has read so far (bytes/token telemetry).
  const ExpertIoStats& expert_io_stats() const { return experts_->stats(); }
  // The MoE block of `layer` (nullptr for dense layers), e.g. for an early-routing predictor.
  MoeBlock* moe_block(int64_t layer) { return layers_.at(layer).moe.get(); }
  // The next MoE layer after `layer`, or -1.
  int64_t next_moe_layer(int64_t layer) const;
  // Distinct experts routed, per MoE layer and forward pass, summed since load (MoeBlock).
  int64_t distinct_experts_routed() const;

 private:
  Model() = default;
  ModelConfig config_;
  ExpertSource* experts_ = nullptr;
  MoeRouting exact_routing_;
  MoeRouting* routing_ = &exact_routing_;
  std::unique_ptr<Rope> rope_;
  std::unique_ptr<ThreadPool> pool_;
  MatvecPath matvec_ = MatvecPath::kF32;
  LinearRef embed_;    // rows dequantised on lookup when quantised
  LinearRef lm_head_;
  std::vector<float> final_norm_;
  std::vector<DecoderLayer> layers_;
  std::vector<float> h_, normed_, mixed_;
  // A chunk's activations as the batched products take them, reused every forward.
  std::vector<SharedActivation> acts_;
  std::vector<SharedActivation*> act_ptrs_;
  std::vector<std::span<float>> row_spans_;
  MlpScratch dense_scratch_;  // dense MLP layers
  int64_t params_total_ = 0, params_active_ = 0;
};

}  // namespace streammoe
