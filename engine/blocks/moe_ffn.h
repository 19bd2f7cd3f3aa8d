#pragma once
// Feed-forward blocks: SwiGLU MLP, and the sparse MoE block
//   p = softmax(router(x)); top-K of p (renormalised when norm_topk_prob)
//   y = sum_k p_k * down_k(silu(gate_k(x)) * up_k(x))
//     + sigmoid(shared_expert_gate(x)) * shared_expert(x)          (when there is a shared expert)
#include <cstdint>
#include <span>
#include <vector>

#include "engine/io/expert_source.h"
#include "engine/ops/matvec.h"
#include "engine/util/phase_timer.h"

namespace streammoe {

struct MlpWeights {
  LinearRef gate;  // [intermediate, hidden]
  LinearRef up;    // [intermediate, hidden]
  LinearRef down;  // [hidden, intermediate]
};

// Computes down(silu(gate(x)) * up(x)) into out; scratch vectors are resized as needed.
void swiglu_mlp(const MlpWeights& w, std::span<const float> x, std::span<float> out,
                std::vector<float>& scratch_gate, std::vector<float>& scratch_up,
                DequantMode mode = DequantMode::kFma, ThreadPool* pool = nullptr);

struct MoeShape {
  int64_t hidden = 0;
  int64_t num_experts = 0;
  int64_t top_k = 0;
  int64_t expert_intermediate = 0;
  bool norm_topk_prob = true;
};

struct MoeWeights {
  MatRef router;                     // [num_experts, hidden]
  bool has_shared = false;
  MlpWeights shared;                 // shared expert
  MatRef shared_gate;                // [1, hidden]
};

// The routing decision of one token in one layer (recorded for traces and telemetry).
struct Routing {
  std::vector<int32_t> experts;  // top-K expert ids, by descending probability
  std::vector<float> weights;    // their (renormalised) weights
};

class MoeBlock;

// Where a MoE block's routing decision comes from, and what runs once its experts are fetched:
// the place the engine's techniques plug in (routing replay, early routing, a K override, the
// prefetch lookahead; engine/runtime/routing_policy.h). This base is transformers' behaviour:
// the layer's own router, the model's K, nothing after the fetch.
class MoeRouting {
 public:
  virtual ~MoeRouting() = default;
  // The experts and weights `block` (layer `layer`) uses for the token at position `pos`.
  virtual Routing route(int64_t pos, int64_t layer, std::span<const float> x, MoeBlock& block);
  // Runs after the layer's experts are fetched and before they are computed: where a prefetcher
  // asks for the next layer's predicted experts, so their reads can overlap this compute.
  virtual void fetched(int64_t pos, int64_t layer, std::span<const float> x) {}
};

class MoeBlock {
 public:
  MoeBlock(int64_t layer, const MoeShape& shape, MoeWeights weights, ExpertSource& experts);
  // One token at position `pos`: routing (by `routing`), expert fetch, expert and shared-expert compute.
  void step(std::span<const float> x, std::span<float> out, int64_t pos, MoeRouting& routing, PhaseTimes* times);
  // Router only: probabilities -> top-k (k = 0: the model's K). Used by routing policies and predictors.
  Routing route(std::span<const float> x, int64_t k = 0);
  const Routing& last_routing() const { return last_; }
  void set_dequant(DequantMode mode) { dequant_ = mode; }
  void set_pool(ThreadPool* pool) { pool_ = pool; }

 private:
  int64_t layer_;
  MoeShape shape_;
  MoeWeights w_;
  ExpertSource& experts_;
  DequantMode dequant_ = DequantMode::kFma;
  ThreadPool* pool_ = nullptr;
  Routing last_;
  std::vector<float> logits_, gate_, up_, expert_out_, shared_out_;
  std::vector<ExpertWeights> fetched_;
};

}  // namespace streammoe
