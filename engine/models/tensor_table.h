#pragma once
// One tensor table per architecture (engine/models/<arch>.cpp): every tensor a checkpoint of that
// architecture holds, declared once with its name pattern, the layers that hold it, its shape as
// a function of the config, and the role the engine gives it. The layer loaders, the expert
// sources, synth and pack all read names and shapes from here, as llama.cpp's loaders read
//   create_tensor(tn(LLM_TENSOR_FFN_GATE_EXPS, "weight", i), {n_embd, n_ff_exp, n_expert}, 0)
// A library of its own (sm_tensor_table, needing only ModelConfig and TensorStore), so the read
// path and conversion use the tables without linking the decoder stack.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/config.h"
#include "engine/model/safetensors.h"

namespace streammoe {

// Grouped by block, one line per block.
// clang-format off
enum class TensorRole {
  // Once per model.
  kEmbed,      // [vocab, hidden]
  kFinalNorm,  // RMSNorm before the head
  kLmHead,     // [vocab, hidden]; absent when tied to the embedding
  // Every decoder layer.
  kInputNorm,          // RMSNorm before the mixer
  kPostAttentionNorm,  // RMSNorm before the feed-forward block
  // Softmax attention.
  kQProj, kKProj, kVProj, kOProj, kQNorm, kKNorm,
  // Gated DeltaNet (linear attention).
  kLinearQkvProj, kLinearZProj, kLinearBProj, kLinearAProj, kLinearOutProj, kLinearConv1d,
  kLinearALog, kLinearDtBias, kLinearNorm,
  // Dense MLP layers.
  kMlpGate, kMlpUp, kMlpDown,
  // MoE block: router, shared expert and its sigmoid gate.
  kRouter, kSharedGate, kSharedUp, kSharedDown, kSharedExpertGate,
  // Routed experts, one tensor per expert and matrix (what save_pretrained writes)...
  kExpertGate, kExpertUp, kExpertDown,
  // ...or fused 3-D: all experts of a layer in one tensor, gate rows then up rows...
  kExpertsGateUp, kExpertsDown,
  // ...or stacked as mlx_lm stores them, each a quantised module (.weight codes, .scales,
  // .biases) with the experts on the leading axis; the shape is the dequantised one.
  kMlxExpertsGate, kMlxExpertsUp, kMlxExpertsDown,
};
// clang-format on

// Routed-expert roles, in any of the three forms: what the expert sources serve and pack packs.
bool is_routed_expert(TensorRole role);

// Which layers hold a tensor.
enum class TensorHolder {
  kModel,        // once, not per layer
  kUntiedModel,  // once, when tie_word_embeddings is false
  kEveryLayer,
  kLinearAttention,  // layers of that mixer kind
  kFullAttention,
  kMoe,           // MoE layers
  kSharedExpert,  // MoE layers of a model with a shared expert
  kDense,         // dense-MLP layers
};

using TensorShape = std::vector<int64_t>;

struct TensorSpec {
  TensorRole role;
  const char* pattern;  // {P}: the config's tensor prefix, {L}: layer, {E}: expert
  TensorHolder holder;
  TensorShape (*shape)(const ModelConfig&);  // as transformers stores it
};

struct TensorTable {
  Arch arch;
  std::span<const TensorSpec> tensors;
};
const TensorTable& qwen3_5_moe_tensors();
const TensorTable& qwen3_moe_tensors();
const TensorTable& tensor_table(Arch arch);

// Shapes both architectures share, named once (engine/models/tensor_table.cpp).
namespace tensor_shapes {
TensorShape embed(const ModelConfig& c);     // [vocab, hidden]
TensorShape hidden(const ModelConfig& c);    // [hidden]
TensorShape head_dim(const ModelConfig& c);  // [head_dim]
TensorShape q_proj(const ModelConfig& c);    // [heads * head_dim * (2 with an output gate), hidden]
TensorShape kv_proj(const ModelConfig& c);   // [kv_heads * head_dim, hidden]
TensorShape o_proj(const ModelConfig& c);    // [hidden, heads * head_dim]
TensorShape router(const ModelConfig& c);    // [experts, hidden]
TensorShape expert_in(const ModelConfig& c);        // [moe_intermediate, hidden]: gate, up
TensorShape expert_out(const ModelConfig& c);       // [hidden, moe_intermediate]: down
TensorShape experts_gate_up(const ModelConfig& c);  // [experts, 2 * moe_intermediate, hidden]
TensorShape experts_in(const ModelConfig& c);       // [experts, moe_intermediate, hidden]
TensorShape experts_out(const ModelConfig& c);      // [experts, hidden, moe_intermediate]
}  // namespace tensor_shapes

struct NamedTensor {
  TensorRole role;
  std::string name;
  TensorShape shape;
};

// A config's tensors: its architecture's table with the prefix and dimensions filled in.
class ModelTensors {
 public:
  explicit ModelTensors(const ModelConfig& config);

  // Whether the architecture has `role` and `layer` holds it (model-scope tensors: any layer).
  bool holds(TensorRole role, int64_t layer) const;
  // The tensor's name; Error when the architecture has no such tensor.
  std::string name(TensorRole role, int64_t layer = 0, int64_t expert = 0) const;
  TensorShape shape(TensorRole role) const;
  // Every tensor but the routed experts, in table order: the model's, then layer by layer.
  std::vector<NamedTensor> resident() const;
  // The role of a tensor named under the config's prefix, if the table has it.
  std::optional<TensorRole> role_of(std::string_view name) const;
  // Whether `name` is a routed-expert tensor under any prefix: the text model's, or another
  // model part's built the same way (a multi-token-prediction head).
  bool is_routed_expert_name(std::string_view name) const;

 private:
  const TensorSpec& spec(TensorRole role) const;
  const TensorSpec* find(TensorRole role) const;

  ModelConfig config_;
  std::span<const TensorSpec> specs_;
};

// One expert matrix inside a checkpoint: `rows x cols` values at byte `offset` of `tensor`'s data.
struct StoredMatrix {
  const TensorInfo* tensor = nullptr;
  uint64_t offset = 0;
  int64_t rows = 0, cols = 0;

  uint64_t bytes() const;
};
struct StoredExpert {
  StoredMatrix gate, up, down;
};

// Where expert `expert` of MoE layer `layer` lies: in the fused 3-D tensors when the checkpoint
// has them, in per-expert tensors otherwise. Error naming the tensor when one is missing or
// mis-shaped.
StoredExpert locate_expert(const TensorStore& store, const ModelTensors& tensors, int64_t layer,
                           int64_t expert);

}  // namespace streammoe
