// Qwen3.5-MoE (transformers: modeling_qwen3_5_moe.py): hybrid Gated DeltaNet / gated attention
// layers, every layer a MoE block with a sigmoid-gated shared expert. Its tensors, as
// transformers names and shapes them; the order is the order synth writes them in.
#include "engine/models/tensor_table.h"

namespace streammoe {
namespace {

using R = TensorRole;
using H = TensorHolder;
using C = const ModelConfig&;
namespace s = tensor_shapes;

// Gated DeltaNet: q and k heads of lin_k_head_dim, v heads of lin_v_head_dim; the causal conv
// runs over q, k and v together.
int64_t key_dim(C c) { return c.lin_num_k_heads * c.lin_k_head_dim; }
int64_t value_dim(C c) { return c.lin_num_v_heads * c.lin_v_head_dim; }
int64_t conv_dim(C c) { return 2 * key_dim(c) + value_dim(c); }

TensorShape linear_qkv(C c) { return {conv_dim(c), c.hidden_size}; }
TensorShape linear_z(C c) { return {value_dim(c), c.hidden_size}; }
TensorShape linear_per_head(C c) { return {c.lin_num_v_heads, c.hidden_size}; }
TensorShape linear_out(C c) { return {c.hidden_size, value_dim(c)}; }
TensorShape linear_conv(C c) { return {conv_dim(c), 1, c.lin_conv_kernel}; }
TensorShape linear_heads(C c) { return {c.lin_num_v_heads}; }
TensorShape linear_norm(C c) { return {c.lin_v_head_dim}; }
TensorShape shared_in(C c) { return {c.shared_expert_intermediate_size, c.hidden_size}; }
TensorShape shared_out(C c) { return {c.hidden_size, c.shared_expert_intermediate_size}; }
TensorShape shared_gate(C c) { return {1, c.hidden_size}; }

// clang-format off
constexpr TensorSpec kTensors[] = {
    // role                  name                                               held by             shape
    {R::kEmbed,              "{P}embed_tokens.weight",                          H::kModel,           s::embed},
    {R::kFinalNorm,          "{P}norm.weight",                                  H::kModel,           s::hidden},
    {R::kLmHead,             "lm_head.weight",                                  H::kUntiedModel,     s::embed},
    {R::kInputNorm,          "{P}layers.{L}.input_layernorm.weight",            H::kEveryLayer,      s::hidden},
    {R::kPostAttentionNorm,  "{P}layers.{L}.post_attention_layernorm.weight",   H::kEveryLayer,      s::hidden},
    {R::kLinearQkvProj,      "{P}layers.{L}.linear_attn.in_proj_qkv.weight",    H::kLinearAttention, linear_qkv},
    {R::kLinearZProj,        "{P}layers.{L}.linear_attn.in_proj_z.weight",      H::kLinearAttention, linear_z},
    {R::kLinearBProj,        "{P}layers.{L}.linear_attn.in_proj_b.weight",      H::kLinearAttention, linear_per_head},
    {R::kLinearAProj,        "{P}layers.{L}.linear_attn.in_proj_a.weight",      H::kLinearAttention, linear_per_head},
    {R::kLinearOutProj,      "{P}layers.{L}.linear_attn.out_proj.weight",       H::kLinearAttention, linear_out},
    {R::kLinearConv1d,       "{P}layers.{L}.linear_attn.conv1d.weight",         H::kLinearAttention, linear_conv},
    {R::kLinearALog,         "{P}layers.{L}.linear_attn.A_log",                 H::kLinearAttention, linear_heads},
    {R::kLinearDtBias,       "{P}layers.{L}.linear_attn.dt_bias",               H::kLinearAttention, linear_heads},
    {R::kLinearNorm,         "{P}layers.{L}.linear_attn.norm.weight",           H::kLinearAttention, linear_norm},
    {R::kQProj,              "{P}layers.{L}.self_attn.q_proj.weight",           H::kFullAttention,   s::q_proj},
    {R::kKProj,              "{P}layers.{L}.self_attn.k_proj.weight",           H::kFullAttention,   s::kv_proj},
    {R::kVProj,              "{P}layers.{L}.self_attn.v_proj.weight",           H::kFullAttention,   s::kv_proj},
    {R::kOProj,              "{P}layers.{L}.self_attn.o_proj.weight",           H::kFullAttention,   s::o_proj},
    {R::kQNorm,              "{P}layers.{L}.self_attn.q_norm.weight",           H::kFullAttention,   s::head_dim},
    {R::kKNorm,              "{P}layers.{L}.self_attn.k_norm.weight",           H::kFullAttention,   s::head_dim},
    {R::kRouter,             "{P}layers.{L}.mlp.gate.weight",                   H::kMoe,             s::router},
    {R::kSharedGate,         "{P}layers.{L}.mlp.shared_expert.gate_proj.weight", H::kSharedExpert,   shared_in},
    {R::kSharedUp,           "{P}layers.{L}.mlp.shared_expert.up_proj.weight",  H::kSharedExpert,    shared_in},
    {R::kSharedDown,         "{P}layers.{L}.mlp.shared_expert.down_proj.weight", H::kSharedExpert,   shared_out},
    {R::kSharedExpertGate,   "{P}layers.{L}.mlp.shared_expert_gate.weight",     H::kSharedExpert,    shared_gate},
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

const TensorTable& qwen3_5_moe_tensors() {
  static const TensorTable table{Arch::kQwen3_5Moe, kTensors};
  return table;
}

}  // namespace streammoe
