#include "engine/blocks/moe_ffn.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <utility>

#include "engine/ops/vec.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

// Top-K weights to sum 1: summed in routing order and divided, as transformers' norm_topk_prob.
void renormalise(std::vector<float>& weights) {
  float sum = 0.0f;
  for (float w : weights) sum += w;
  for (float& w : weights) w /= sum;
}

}  // namespace

void swiglu_mlp(const MlpWeights& w, std::span<SharedActivation* const> xs, std::span<const std::span<float>> outs,
                MlpScratch& s, DequantMode mode, ThreadPool* pool, MatvecPath path) {
  const size_t n = xs.size();
  const int64_t inter = w.gate.rows();
  s.gate.resize(n * inter);
  s.up.resize(n * inter);
  s.hidden.resize(std::max(s.hidden.size(), n));
  s.gate_rows.clear();
  s.up_rows.clear();
  s.hidden_ptrs.clear();
  for (size_t i = 0; i < n; ++i) {
    s.gate_rows.push_back(std::span(s.gate).subspan(i * inter, inter));
    s.up_rows.push_back(std::span(s.up).subspan(i * inter, inter));
  }
  linear_batch(w.gate, xs, s.gate_rows, mode, pool, path);
  linear_batch(w.up, xs, s.up_rows, mode, pool, path);
  for (size_t i = 0; i < n; ++i) {
    swiglu(s.gate_rows[i], s.up_rows[i], s.gate_rows[i]);
    s.hidden[i].bind(s.gate_rows[i]);
    s.hidden_ptrs.push_back(&s.hidden[i]);
  }
  linear_batch(w.down, s.hidden_ptrs, outs, mode, pool, path);
}

MoeBlock::MoeBlock(int64_t layer, const MoeShape& shape, MoeWeights weights, ExpertSource& experts)
    : layer_(layer), shape_(shape), w_(std::move(weights)), experts_(experts) {
  logits_.resize(shape.num_experts);
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
  for (int32_t e : r.experts) r.weights.push_back(logits_[e]);
  if (shape_.norm_topk_prob) renormalise(r.weights);
  return r;
}

Routing first_k(const Routing& routing, int64_t k, bool renormalise_weights) {
  if (k <= 0 || static_cast<size_t>(k) >= routing.experts.size()) return routing;
  Routing r;
  r.experts.assign(routing.experts.begin(), routing.experts.begin() + k);
  r.weights.assign(routing.weights.begin(), routing.weights.begin() + std::min<size_t>(k, routing.weights.size()));
  if (renormalise_weights) renormalise(r.weights);
  return r;
}

const Routing& MoeBlock::last_routing(int64_t row) const {
  static const Routing kNone;
  if (routes_.empty()) return kNone;
  return routes_.at(row < 0 ? routes_.size() - 1 : static_cast<size_t>(row));
}

void MoeBlock::plan_experts() {
  use_index_.resize(shape_.num_experts, -1);
  uses_.clear();
  for (size_t t = 0; t < routes_.size(); ++t) {
    const std::vector<int32_t>& experts = routes_[t].experts;
    for (size_t slot = 0; slot < experts.size(); ++slot) {
      const int32_t e = experts[slot];
      if (e < 0 || e >= shape_.num_experts)
        fail("layer {}: routed expert {} out of range [0, {})", layer_, e, shape_.num_experts);
      if (use_index_[e] < 0) {
        use_index_[e] = static_cast<int32_t>(uses_.size());
        uses_.push_back({e, {}});
      }
      uses_[use_index_[e]].rows.emplace_back(static_cast<int64_t>(t), static_cast<int64_t>(slot));
    }
  }
  for (const ExpertUse& u : uses_) use_index_[u.expert] = -1;
}

void MoeBlock::fetch_computing_on_arrival(FunctionRef<void(size_t)> compute, FunctionRef<void()> first_arrival,
                                          PhaseTimes* times) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Clock::duration handling{};  // time spent on arrivals rather than waiting for them
  bool first = true;
  experts_.fetch_each(layer_, batch_, fetched_, [&](size_t i) {
    const Clock::time_point arrived = Clock::now();
    if (std::exchange(first, false)) first_arrival();
    {
      ScopedPhase phase(times, Phase::kExpertCompute);
      compute(i);
    }
    handling += Clock::now() - arrived;
  });
  if (times) times->add(Phase::kExpertIoWait, std::chrono::duration<double>(Clock::now() - start - handling).count());
}

void MoeBlock::step(std::span<const float> x, std::span<float> out, int64_t pos, MoeRouting& routing,
                    PhaseTimes* times) {
  const int64_t H = shape_.hidden;
  const int64_t T = static_cast<int64_t>(x.size()) / H;
  const auto row = [H](auto span, int64_t t) { return span.subspan(t * H, H); };
  routes_.resize(T);
  {
    ScopedPhase phase(times, Phase::kRouting);
    for (int64_t t = 0; t < T; ++t) routes_[t] = routing.route(pos + t, layer_, row(x, t), *this);
  }
  plan_experts();
  distinct_routed_ += static_cast<int64_t>(uses_.size());
  size_t slots = 1;
  for (const Routing& r : routes_) slots = std::max(slots, r.experts.size());
  slot_out_.resize(T * slots * H);
  inputs_.resize(std::max<size_t>(inputs_.size(), T));
  for (int64_t t = 0; t < T; ++t) inputs_[t].bind(row(x, t));
  const auto slot_out = [&](int64_t t, int64_t slot) { return std::span(slot_out_).subspan((t * slots + slot) * H, H); };

  const size_t per_fetch = std::max(slots, static_cast<size_t>(fetch_batch_));
  for (size_t first = 0; first < uses_.size(); first += per_fetch) {
    const size_t count = std::min(per_fetch, uses_.size() - first);
    batch_.resize(count);
    for (size_t i = 0; i < count; ++i) batch_[i] = uses_[first + i].expert;
    fetched_.resize(count);
    const auto compute = [&](size_t i) {
      const ExpertWeights& e = fetched_[i];
      expert_inputs_.clear();
      expert_outputs_.clear();
      for (const auto& [t, slot] : uses_[first + i].rows) {
        expert_inputs_.push_back(&inputs_[t]);
        expert_outputs_.push_back(slot_out(t, slot));
      }
      swiglu_mlp({e.gate, e.up, e.down}, expert_inputs_, expert_outputs_, mlp_, dequant_, pool_, matvec_);
    };
    if (order_ == ExpertOrder::kArrival) {
      fetch_computing_on_arrival(compute, [&] { if (T == 1) routing.fetched(pos, layer_, x); }, times);
      continue;
    }
    {
      ScopedPhase phase(times, Phase::kExpertIoWait);
      experts_.fetch(layer_, batch_, fetched_);
    }
    if (T == 1) routing.fetched(pos, layer_, x);
    ScopedPhase phase(times, Phase::kExpertCompute);
    for (size_t i = 0; i < count; ++i) compute(i);
  }

  ScopedPhase phase(times, Phase::kExpertCompute);
  if (w_.has_shared) {
    shared_out_.resize(T * H);
    all_inputs_.clear();
    shared_outputs_.clear();
    for (int64_t t = 0; t < T; ++t) {
      all_inputs_.push_back(&inputs_[t]);
      shared_outputs_.push_back(row(std::span(shared_out_), t));
    }
    swiglu_mlp(w_.shared, all_inputs_, shared_outputs_, mlp_, DequantMode::kFma, pool_, matvec_);
  }
  for (int64_t t = 0; t < T; ++t) {
    std::span<float> y = row(out, t);
    std::fill(y.begin(), y.end(), 0.0f);
    const Routing& r = routes_[t];
    for (size_t slot = 0; slot < r.experts.size(); ++slot) axpy(r.weights[slot], slot_out(t, slot), y);
    if (w_.has_shared) {
      float g = 0.0f;
      matvec(w_.shared_gate, row(x, t), {&g, 1});
      axpy(sigmoid(g), shared_outputs_[t], y);
    }
  }
}

}  // namespace streammoe
