#include "engine/models/layer_loaders.h"

namespace streammoe {

std::unique_ptr<Attention> load_attention(const WeightLoader& w, const ModelConfig& c,
                                          const std::string& p, const Rope& rope) {
  AttentionShape shape{c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim, c.attn_output_gate,
                       c.norm_one_plus_weight, static_cast<float>(c.rms_norm_eps)};
  const int64_t q_rows = c.num_heads * c.head_dim * (c.attn_output_gate ? 2 : 1);
  const int64_t kv_rows = c.num_kv_heads * c.head_dim;
  AttentionWeights aw;
  aw.q_proj = w.matrix(p + "q_proj.weight", q_rows, c.hidden_size);
  aw.k_proj = w.matrix(p + "k_proj.weight", kv_rows, c.hidden_size);
  aw.v_proj = w.matrix(p + "v_proj.weight", kv_rows, c.hidden_size);
  aw.o_proj = w.matrix(p + "o_proj.weight", c.hidden_size, c.num_heads * c.head_dim);
  aw.q_norm = w.vector(p + "q_norm.weight", c.head_dim);
  aw.k_norm = w.vector(p + "k_norm.weight", c.head_dim);
  return std::make_unique<Attention>(shape, std::move(aw), rope);
}

MlpWeights load_mlp(const WeightLoader& w, const std::string& p, int64_t hidden, int64_t intermediate) {
  return MlpWeights{w.matrix(p + "gate_proj.weight", intermediate, hidden),
                    w.matrix(p + "up_proj.weight", intermediate, hidden),
                    w.matrix(p + "down_proj.weight", hidden, intermediate)};
}

std::unique_ptr<MoeBlock> load_moe(const WeightLoader& w, const ModelConfig& c, int64_t layer,
                                   const std::string& p, bool shared_expert, ExpertSource& experts) {
  MoeShape shape{c.hidden_size, c.num_experts, c.experts_per_tok, c.moe_intermediate_size, c.norm_topk_prob};
  MoeWeights mw;
  mw.router = w.matrix(p + "gate.weight", c.num_experts, c.hidden_size);
  mw.has_shared = shared_expert;
  if (shared_expert) {
    mw.shared = load_mlp(w, p + "shared_expert.", c.hidden_size, c.shared_expert_intermediate_size);
    mw.shared_gate = w.matrix(p + "shared_expert_gate.weight", 1, c.hidden_size);
  }
  return std::make_unique<MoeBlock>(layer, shape, std::move(mw), experts);
}

}  // namespace streammoe
