#include "engine/blocks/moe_ffn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/ops/vec.h"
#include "engine/util/error.h"

namespace streammoe {

void swiglu_mlp(const MlpWeights& w, std::span<const float> x, std::span<float> out,
                std::vector<float>& scratch_gate, std::vector<float>& scratch_up, DequantMode mode, ThreadPool* pool) {
  scratch_gate.resize(w.gate.rows());
  scratch_up.resize(w.up.rows());
  linear(w.gate, x, scratch_gate, mode, pool);
  linear(w.up, x, scratch_up, mode, pool);
  swiglu(scratch_gate, scratch_up, scratch_gate);
  linear(w.down, scratch_gate, out, mode, pool);
}

MoeBlock::MoeBlock(int64_t layer, const MoeShape& shape, MoeWeights weights, ExpertSource& experts)
    : layer_(layer), shape_(shape), w_(std::move(weights)), experts_(experts) {
  logits_.resize(shape.num_experts);
  expert_out_.resize(shape.hidden);
  shared_out_.resize(shape.hidden);
}

Routing MoeRouting::route(int64_t, int64_t, std::span<const float> x, MoeBlock& block) { return block.route(x); }

Routing MoeBlock::route(std::span<const float> x, int64_t top_k) {
  linear(w_.router, x, logits_, dequant_, pool_);
  softmax_inplace(logits_);
  const int64_t k = std::min(top_k > 0 ? top_k : shape_.top_k, shape_.num_experts);
  std::vector<int32_t> order(shape_.num_experts);
  std::iota(order.begin(), order.end(), 0);
  // torch.topk: largest first; ties keep the lower index first.
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return logits_[a] > logits_[b] || (logits_[a] == logits_[b] && a < b);
  });
  Routing r;
  r.experts.assign(order.begin(), order.begin() + k);
  float sum = 0.0f;
  for (int32_t e : r.experts) {
    r.weights.push_back(logits_[e]);
    sum += logits_[e];
  }
  if (shape_.norm_topk_prob)
    for (float& wgt : r.weights) wgt /= sum;
  return r;
}

void MoeBlock::step(std::span<const float> x, std::span<float> out, int64_t pos, MoeRouting& routing,
                    PhaseTimes* times) {
  {
    ScopedPhase phase(times, Phase::kRouting);
    last_ = routing.route(pos, layer_, x, *this);
  }
  fetched_.resize(last_.experts.size());
  {
    ScopedPhase phase(times, Phase::kExpertIoWait);
    experts_.fetch(layer_, last_.experts, fetched_);
  }
  routing.fetched(pos, layer_, x);
  ScopedPhase phase(times, Phase::kExpertCompute);
  std::fill(out.begin(), out.end(), 0.0f);
  for (size_t i = 0; i < fetched_.size(); ++i) {
    const ExpertWeights& e = fetched_[i];
    swiglu_mlp({e.gate, e.up, e.down}, x, expert_out_, gate_, up_, dequant_, pool_);
    axpy(last_.weights[i], expert_out_, out);
  }
  if (w_.has_shared) {
    swiglu_mlp(w_.shared, x, shared_out_, gate_, up_, DequantMode::kFma, pool_);
    float g = 0.0f;
    matvec(w_.shared_gate, x, {&g, 1});
    axpy(sigmoid(g), shared_out_, out);
  }
}

}  // namespace streammoe
