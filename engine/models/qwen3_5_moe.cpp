// Qwen3.5-MoE (transformers: modeling_qwen3_5_moe.py): hybrid Gated DeltaNet / gated attention
// layers, every layer a MoE block with a sigmoid-gated shared expert.
#include <fmt/format.h>

#include "engine/models/layer_loaders.h"

namespace streammoe {
namespace {

std::unique_ptr<GatedDeltaNet> load_delta_net(const WeightLoader& w, const ModelConfig& c,
                                              const std::string& p) {
  DeltaNetShape s{c.hidden_size,    c.lin_num_k_heads, c.lin_num_v_heads, c.lin_k_head_dim,
                  c.lin_v_head_dim, c.lin_conv_kernel, static_cast<float>(c.rms_norm_eps)};
  DeltaNetWeights dw;
  dw.in_proj_qkv = w.matrix(p + "in_proj_qkv.weight", s.conv_dim(), c.hidden_size);
  dw.in_proj_z = w.matrix(p + "in_proj_z.weight", s.value_dim(), c.hidden_size);
  dw.in_proj_b = w.matrix(p + "in_proj_b.weight", s.v_heads, c.hidden_size);
  dw.in_proj_a = w.matrix(p + "in_proj_a.weight", s.v_heads, c.hidden_size);
  dw.out_proj = w.matrix(p + "out_proj.weight", c.hidden_size, s.value_dim());
  dw.conv = w.conv_weight(p + "conv1d.weight", s.conv_dim(), s.conv_kernel);
  dw.a_log = w.vector(p + "A_log", s.v_heads);
  dw.dt_bias = w.vector(p + "dt_bias", s.v_heads);
  dw.norm = w.vector(p + "norm.weight", s.v_head_dim);
  return std::make_unique<GatedDeltaNet>(s, std::move(dw));
}

void load_layer(const WeightLoader& w, const ModelConfig& c, int64_t i, const Rope& rope,
                ExpertSource& experts, DecoderLayer& out) {
  const std::string p = fmt::format("layers.{}.", i);
  out.input_norm = w.vector(p + "input_layernorm.weight", c.hidden_size);
  out.post_attention_norm = w.vector(p + "post_attention_layernorm.weight", c.hidden_size);
  if (out.mixer_kind == LayerKind::kLinearAttention)
    out.delta_net = load_delta_net(w, c, p + "linear_attn.");
  else
    out.attention = load_attention(w, c, p + "self_attn.", rope);
  out.moe = load_moe(w, c, i, p + "mlp.", c.shared_expert_intermediate_size > 0, experts);
}

}  // namespace

const ArchLoader& qwen3_5_moe_loader() {
  static const ArchLoader loader{Arch::kQwen3_5Moe, &load_layer};
  return loader;
}

}  // namespace streammoe
