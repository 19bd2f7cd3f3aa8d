// Loads decoder layers from the architecture's tensor table (engine/models/<arch>.cpp): which
// tensors a layer holds, their names and their shapes come from there, so one loader serves both
// architectures.
#include "engine/model/weights.h"
#include "engine/models/model.h"
#include "engine/models/tensor_table.h"

namespace streammoe {
namespace {

using R = TensorRole;

// The tensors of one layer, each checked against the table's shape.
class LayerWeights {
 public:
  LayerWeights(const TensorStore& store, const ModelTensors& tensors, int64_t layer)
      : store_(store), tensors_(tensors), layer_(layer) {}

  MatRef matrix(R role) const {
    const TensorInfo& t = get(role);
    return MatRef{t.dtype, t.data.data(), t.shape[0], t.shape[1]};
  }
  // 1-D tensors, and conv1d weights [channels, 1, kernel] as f32 [channels * kernel].
  std::vector<float> vector(R role) const { return to_f32(get(role)); }
  bool holds(R role) const { return tensors_.holds(role, layer_); }

 private:
  const TensorInfo& get(R role) const {
    return store_.get_float(tensors_.name(role, layer_), tensors_.shape(role));
  }

  const TensorStore& store_;
  const ModelTensors& tensors_;
  int64_t layer_;
};

std::unique_ptr<Attention> load_attention(const LayerWeights& w, const ModelConfig& c,
                                          const Rope& rope) {
  AttentionShape shape{c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim, c.attn_output_gate,
                       c.norm_one_plus_weight, static_cast<float>(c.rms_norm_eps)};
  AttentionWeights aw;
  aw.q_proj = w.matrix(R::kQProj);
  aw.k_proj = w.matrix(R::kKProj);
  aw.v_proj = w.matrix(R::kVProj);
  aw.o_proj = w.matrix(R::kOProj);
  aw.q_norm = w.vector(R::kQNorm);
  aw.k_norm = w.vector(R::kKNorm);
  return std::make_unique<Attention>(shape, std::move(aw), rope);
}

std::unique_ptr<GatedDeltaNet> load_delta_net(const LayerWeights& w, const ModelConfig& c) {
  DeltaNetShape s{c.hidden_size,    c.lin_num_k_heads, c.lin_num_v_heads, c.lin_k_head_dim,
                  c.lin_v_head_dim, c.lin_conv_kernel, static_cast<float>(c.rms_norm_eps)};
  DeltaNetWeights dw;
  dw.in_proj_qkv = w.matrix(R::kLinearQkvProj);
  dw.in_proj_z = w.matrix(R::kLinearZProj);
  dw.in_proj_b = w.matrix(R::kLinearBProj);
  dw.in_proj_a = w.matrix(R::kLinearAProj);
  dw.out_proj = w.matrix(R::kLinearOutProj);
  dw.conv = w.vector(R::kLinearConv1d);
  dw.a_log = w.vector(R::kLinearALog);
  dw.dt_bias = w.vector(R::kLinearDtBias);
  dw.norm = w.vector(R::kLinearNorm);
  return std::make_unique<GatedDeltaNet>(s, std::move(dw));
}

MlpWeights load_mlp(const LayerWeights& w, R gate, R up, R down) {
  return MlpWeights{w.matrix(gate), w.matrix(up), w.matrix(down)};
}

std::unique_ptr<MoeBlock> load_moe(const LayerWeights& w, const ModelConfig& c, int64_t layer,
                                   ExpertSource& experts) {
  MoeShape shape{c.hidden_size, c.num_experts, c.experts_per_tok, c.moe_intermediate_size,
                 c.norm_topk_prob};
  MoeWeights mw;
  mw.router = w.matrix(R::kRouter);
  mw.has_shared = w.holds(R::kSharedGate);
  if (mw.has_shared) {
    mw.shared = load_mlp(w, R::kSharedGate, R::kSharedUp, R::kSharedDown);
    mw.shared_gate = w.matrix(R::kSharedExpertGate);
  }
  return std::make_unique<MoeBlock>(layer, shape, std::move(mw), experts);
}

void load_layer(const WeightLoader& loader, const ModelConfig& c, int64_t i, const Rope& rope,
                ExpertSource& experts, DecoderLayer& out) {
  const ModelTensors tensors(c);
  const LayerWeights w(loader.store(), tensors, i);
  out.input_norm = w.vector(R::kInputNorm);
  out.post_attention_norm = w.vector(R::kPostAttentionNorm);
  if (out.mixer_kind == LayerKind::kLinearAttention)
    out.delta_net = load_delta_net(w, c);
  else
    out.attention = load_attention(w, c, rope);
  if (out.ffn_kind == FfnKind::kMoe)
    out.moe = load_moe(w, c, i, experts);
  else
    out.dense = load_mlp(w, R::kMlpGate, R::kMlpUp, R::kMlpDown);
}

}  // namespace

// What differs between the architectures is their tensor table; the loader is shared.
const ArchLoader& qwen3_5_moe_loader() {
  static const ArchLoader loader{Arch::kQwen3_5Moe, &load_layer};
  return loader;
}

const ArchLoader& qwen3_moe_loader() {
  static const ArchLoader loader{Arch::kQwen3Moe, &load_layer};
  return loader;
}

}  // namespace streammoe
