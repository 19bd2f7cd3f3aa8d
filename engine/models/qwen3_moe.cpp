// Qwen3-MoE (transformers: modeling_qwen3_moe.py): softmax attention with q/k RMSNorm, MoE
// blocks without a shared expert, optional dense MLP layers (mlp_only_layers, decoder_sparse_step).
#include <fmt/format.h>

#include "engine/models/layer_loaders.h"

namespace streammoe {
namespace {

void load_layer(const WeightLoader& w, const ModelConfig& c, int64_t i, const Rope& rope,
                ExpertSource& experts, DecoderLayer& out) {
  const std::string p = fmt::format("layers.{}.", i);
  out.input_norm = w.vector(p + "input_layernorm.weight", c.hidden_size);
  out.post_attention_norm = w.vector(p + "post_attention_layernorm.weight", c.hidden_size);
  out.attention = load_attention(w, c, p + "self_attn.", rope);
  if (out.ffn_kind == FfnKind::kMoe)
    out.moe = load_moe(w, c, i, p + "mlp.", /*shared_expert=*/false, experts);
  else
    out.dense = load_mlp(w, p + "mlp.", c.hidden_size, c.intermediate_size);
}

}  // namespace

const ArchLoader& qwen3_moe_loader() {
  static const ArchLoader loader{Arch::kQwen3Moe, &load_layer};
  return loader;
}

}  // namespace streammoe
