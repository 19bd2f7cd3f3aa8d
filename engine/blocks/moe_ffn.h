#pragma once
// Feed-forward blocks: SwiGLU MLP, and the sparse MoE block
//   p = softmax(router(x)); top-K of p (renormalised when norm_topk_prob)
//   y = sum_k p_k * down_k(silu(gate_k(x)) * up_k(x))
//     + sigmoid(shared_expert_gate(x)) * shared_expert(x)          (when there is a shared expert)
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "engine/io/expert_source.h"
#include "engine/ops/linear.h"
#include "engine/ops/matvec.h"
#include "engine/util/phase_timer.h"

namespace streammoe {

struct MlpWeights {
  LinearRef gate;  // [intermediate, hidden]
  LinearRef up;    // [intermediate, hidden]
  LinearRef down;  // [hidden, intermediate]
};

// Buffers of swiglu_mlp, reused across calls (no allocation once warm).
struct MlpScratch {
  std::vector<float> gate, up;           // [n, intermediate]
  std::vector<SharedActivation> hidden;  // [n] silu(gate) * up, down's input
  std::vector<SharedActivation*> hidden_ptrs;
  std::vector<std::span<float>> gate_rows, up_rows;
};

// outs[i] = down(silu(gate(xs[i])) * up(xs[i])) for a batch of activations (the tokens of a chunk
// routed to one expert): each weight read once for the batch (linear_batch), each output
// bit-identical to computing its x alone. On the int8 path gate and up share one quantisation of
// each x (and so do all MLPs given the same SharedActivation).
void swiglu_mlp(const MlpWeights& w, std::span<SharedActivation* const> xs, std::span<const std::span<float>> outs,
                MlpScratch& scratch, DequantMode mode, ThreadPool* pool, MatvecPath path);

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

// The first k of a routing's choices (k <= 0, or at least as many as it has: all of it,
// unchanged), their weights renormalised to sum to 1 when `renormalise` (norm_topk_prob) as
// MoeBlock::route renormalises its top-K: what --k makes of a replayed routing.
Routing first_k(const Routing& routing, int64_t k, bool renormalise);

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
  // A chunk of tokens, x = [T, hidden] at positions pos, pos + 1, ...; out = [T, hidden]. Every
  // token is routed (by `routing`), then the block runs expert-major: each distinct routed expert
  // is fetched once for the chunk (in fetches of at most max(widest routing, fetch batch)) and computed
  // for every token routed to it; each token's expert outputs are summed in its routing order,
  // so a chunk gives bit-identical results to its tokens one at a time. With one token,
  // `routing.fetched` runs between the fetch and the compute (the prefetch lookahead). With
  // ExpertOrder::kArrival each fetched expert is computed as soon as the source hands it out
  // (ExpertSource::fetch_each), and `routing.fetched` runs at the first arrival; the sums keep
  // their routing order, so the output is bit-identical.
  void step(std::span<const float> x, std::span<float> out, int64_t pos, MoeRouting& routing, PhaseTimes* times);
  // Router only: probabilities -> top-k (k = 0: the model's K). Used by routing policies and predictors.
  Routing route(std::span<const float> x, int64_t k = 0);
  // The routing of token `row` of the last step (-1: its last token).
  const Routing& last_routing(int64_t row = -1) const;
  // Distinct experts routed, per step, summed since construction: each is fetched once per step.
  int64_t distinct_routed() const { return distinct_routed_; }
  void set_dequant(DequantMode mode) { dequant_ = mode; }
  void set_pool(ThreadPool* pool) { pool_ = pool; }
  void set_expert_order(ExpertOrder order) { order_ = order; }
  // Experts fetched together when a chunk routes more distinct experts than one token's K
  // (0: K): larger fetches keep more reads in flight. Results do not depend on it.
  void set_fetch_batch(int64_t experts) { fetch_batch_ = experts; }
  // How quantised weights (routed experts, a quantised shared expert) meet x (ops/linear.h).
  void set_matvec(MatvecPath path) { matvec_ = path; }

 private:
  // The chunk's distinct experts in order of first appearance, and where each is used.
  struct ExpertUse {
    int32_t expert;
    std::vector<std::pair<int64_t, int64_t>> rows;  // (token row, slot in its routing)
  };
  void plan_experts();
  // Fetches batch_ into fetched_ with fetch_each, calling first_arrival() and then compute(i) as
  // each expert lands; expert_io_wait gets only the time spent waiting for the next arrival.
  void fetch_computing_on_arrival(FunctionRef<void(size_t)> compute, FunctionRef<void()> first_arrival,
                                  PhaseTimes* times);

  int64_t layer_;
  MoeShape shape_;
  MoeWeights w_;
  ExpertSource& experts_;
  DequantMode dequant_ = DequantMode::kFma;
  ThreadPool* pool_ = nullptr;
  ExpertOrder order_ = ExpertOrder::kAll;
  int64_t fetch_batch_ = 0;
  MatvecPath matvec_ = MatvecPath::kF32;
  std::vector<SharedActivation> inputs_;  // [T] each token's x, quantised once for all its experts
  std::vector<Routing> routes_;        // [T] routing of the last step
  std::vector<ExpertUse> uses_;        // the last step's plan
  int64_t distinct_routed_ = 0;
  std::vector<int32_t> use_index_;     // [num_experts] index into uses_, -1 if unused
  std::vector<int32_t> batch_;         // expert ids of one fetch
  std::vector<float> slot_out_;        // [T, slots, hidden] expert outputs before the weighted sum
  std::vector<float> logits_, shared_out_;  // [num_experts], [T, hidden]
  MlpScratch mlp_;
  std::vector<SharedActivation*> expert_inputs_, all_inputs_;  // one expert's tokens; every token
  std::vector<std::span<float>> expert_outputs_, shared_outputs_;
  std::vector<ExpertWeights> fetched_;
};

}  // namespace streammoe
