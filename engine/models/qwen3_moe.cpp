// Qwen3-MoE (transformers: modeling_qwen3_moe.py): softmax attention with q/k RMSNorm, MoE
// blocks without a shared expert, optional dense MLP layers (mlp_only_layers,
// decoder_sparse_step). Its tensors, as transformers names and shapes them.
#include "engine/models/tensor_table.h"

namespace streammoe {
namespace {

using R = TensorRole;
using H = TensorHolder;
using C = const ModelConfig&;
namespace s = tensor_shapes;

TensorShape mlp_in(C c) { return {c.intermediate_size, c.hidden_size}; }
TensorShape mlp_out(C c) { return {c.hidden_size, c.intermediate_size}; }

// clang-format off
constexpr TensorSpec kTensors[] = {
    // role                  name                                               held by             shape
    {R::kEmbed,              "{P}embed_tokens.weight",                          H::kModel,           s::embed},
    {R::kFinalNorm,          "{P}norm.weight",                                  H::kModel,           s::hidden},
    {R::kLmHead,             "lm_head.weight",                                  H::kUntiedModel,     s::embed},
    {R::kInputNorm,          "{P}layers.{L}.input_layernorm.weight",            H::kEveryLayer,      s::hidden},
    {R::kPostAttentionNorm,  "{P}layers.{L}.post_attention_layernorm.weight",   H::kEveryLayer,      s::hidden},
    {R::kQProj,              "{P}layers.{L}.self_attn.q_proj.weight",           H::kFullAttention,   s::q_proj},
    {R::kKProj,              "{P}layers.{L}.self_attn.k_proj.weight",           H::kFullAttention,   s::kv_proj},
    {R::kVProj,              "{P}layers.{L}.self_attn.v_proj.weight",           H::kFullAttention,   s::kv_proj},
    {R::kOProj,              "{P}layers.{L}.self_attn.o_proj.weight",           H::kFullAttention,   s::o_proj},
    {R::kQNorm,              "{P}layers.{L}.self_attn.q_norm.weight",           H::kFullAttention,   s::head_dim},
    {R::kKNorm,              "{P}layers.{L}.self_attn.k_norm.weight",           H::kFullAttention,   s::head_dim},
    {R::kMlpGate,            "{P}layers.{L}.mlp.gate_proj.weight",              H::kDense,           mlp_in},
    {R::kMlpUp,              "{P}layers.{L}.mlp.up_proj.weight",                H::kDense,           mlp_in},
    {R::kMlpDown,            "{P}layers.{L}.mlp.down_proj.weight",              H::kDense,           mlp_out},
    {R::kRouter,             "{P}layers.{L}.mlp.gate.weight",                   H::kMoe,             s::router},
    {R::kExpertGate,         "{P}layers.{L}.mlp.experts.{E}.gate_proj.weight",  H::kMoe,             s::expert_in},
    {R::kExpertUp,           "{P}layers.{L}.mlp.experts.{E}.up_proj.weight",    H::kMoe,             s::expert_in},
    {R::kExpertDown,         "{P}layers.{L}.mlp.experts.{E}.down_proj.weight",  H::kMoe,             s::expert_out},
    {R::kExpertsGateUp,      "{P}layers.{L}.mlp.experts.gate_up_proj",          H::kMoe,             s::experts_gate_up},
    {R::kExpertsDown,        "{P}layers.{L}.mlp.experts.down_proj",             H::kMoe,             s::experts_out},
    {R::kMlxExpertsGate,     "{P}layers.{L}.mlp.switch_mlp.gate_proj.weight",   H::kMoe,             s::experts_in},
    {R::kMlxExpertsUp,       "{P}layers.{L}.mlp.switch_mlp.up_proj.weight",     H::kMoe,             s::experts_in},
    {R::kMlxExpertsDown,     "{P}layers.{L}.mlp.switch_mlp.down_proj.weight",   H::kMoe,             s::experts_out},
};
// clang-format on

}  // namespace

const TensorTable& qwen3_moe_tensors() {
  static const TensorTable table{Arch::kQwen3Moe, kTensors};
  return table;
}

}  // namespace streammoe
