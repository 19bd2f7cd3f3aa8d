#pragma once
// config.json -> ModelConfig: every dimension of the model comes from here, nothing hard-coded.
// Architecture names are data (kArchitectures in config.cpp), validated once at load.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace streammoe {

enum class Arch { kQwen3_5Moe, kQwen3Moe };
enum class LayerKind { kLinearAttention, kFullAttention };
enum class FfnKind { kMoe, kDense };

struct ModelConfig {
  Arch arch = Arch::kQwen3_5Moe;
  std::string model_type;     // as written in config.json ("qwen3_5_moe", "qwen3_5_moe_text", ...)
  std::string tensor_prefix;  // "model." or "model.language_model."

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  double rms_norm_eps = 1e-6;
  bool norm_one_plus_weight = false;  // Qwen3.5 RMSNorm scales by (1 + w)
  bool tie_word_embeddings = false;

  // Full (softmax) attention.
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t rotary_dim = 0;  // head_dim * partial_rotary_factor: leading dims that rotate
  double rope_theta = 10000.0;
  bool attn_output_gate = false;  // Qwen3.5: q_proj also produces a sigmoid output gate

  // Gated DeltaNet linear attention (Qwen3.5).
  int64_t lin_num_k_heads = 0;
  int64_t lin_num_v_heads = 0;
  int64_t lin_k_head_dim = 0;
  int64_t lin_v_head_dim = 0;
  int64_t lin_conv_kernel = 0;

  // Feed-forward.
  int64_t num_experts = 0;
  int64_t experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  int64_t shared_expert_intermediate_size = 0;  // 0: no shared expert
  int64_t intermediate_size = 0;                // dense MLP layers (Qwen3-MoE mlp_only_layers)
  bool norm_topk_prob = true;

  std::vector<LayerKind> layer_types;
  std::vector<FfnKind> ffn_types;
  std::vector<int32_t> eos_token_ids;  // from config.json / generation_config.json
  int64_t max_position_embeddings = 0;  // the trained context; 0 when config.json gives none

  int64_t num_layers_of(LayerKind kind) const;
  std::string summary() const;  // one line: arch, layers, experts, K, dims
};

// Reads <folder>/config.json (and generation_config.json for eos ids when present).
// Errors name the file and the key: missing or mistyped keys, unknown model_type, unknown keys,
// values the engine does not implement (rope scaling, sliding window, other activations).
ModelConfig load_config(const std::filesystem::path& folder);
ModelConfig parse_config(const std::string& json_text, const std::string& source_name);

const char* arch_name(Arch arch);

}  // namespace streammoe
