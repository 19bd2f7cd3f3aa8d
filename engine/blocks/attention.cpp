#include "engine/blocks/attention.h"

#include <cmath>

#include "engine/ops/vec.h"

namespace streammoe {

Attention::Attention(const AttentionShape& shape, AttentionWeights weights, const Rope& rope)
    : shape_(shape), w_(std::move(weights)), rope_(rope) {
  const int64_t q_dim = shape.heads * shape.head_dim, kv_dim = shape.kv_heads * shape.head_dim;
  q_full_.resize(q_dim * (shape.output_gate ? 2 : 1));
  q_.resize(q_dim);
  gate_.resize(q_dim);
  k_.resize(kv_dim);
  v_.resize(kv_dim);
  attn_out_.resize(q_dim);
}

void Attention::step(std::span<const float> x, int64_t pos, KvCache& cache, std::span<float> out) {
  const int64_t d = shape_.head_dim, kv_dim = shape_.kv_heads * d;
  input_.bind(x);
  linear(w_.q_proj, input_, q_full_, DequantMode::kFma, pool_, matvec_);
  linear(w_.k_proj, input_, k_, DequantMode::kFma, pool_, matvec_);
  linear(w_.v_proj, input_, v_, DequantMode::kFma, pool_, matvec_);
  for (int64_t h = 0; h < shape_.heads; ++h) {
    const float* src = q_full_.data() + h * d * (shape_.output_gate ? 2 : 1);
    std::span<float> q(q_.data() + h * d, d);
    rmsnorm({src, static_cast<size_t>(d)}, w_.q_norm, shape_.eps, shape_.norm_one_plus_weight, q);
    rope_.apply(q, pos);
    if (shape_.output_gate) std::copy(src + d, src + 2 * d, gate_.data() + h * d);
  }
  for (int64_t h = 0; h < shape_.kv_heads; ++h) {
    std::span<float> k(k_.data() + h * d, d);
    rmsnorm(k, w_.k_norm, shape_.eps, shape_.norm_one_plus_weight, k);
    rope_.apply(k, pos);
  }
  cache.keys.insert(cache.keys.end(), k_.begin(), k_.end());
  cache.values.insert(cache.values.end(), v_.begin(), v_.end());
  cache.len += 1;

  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t group = shape_.heads / shape_.kv_heads;
  scores_.resize(cache.len);
  for (int64_t h = 0; h < shape_.heads; ++h) {
    const int64_t kvh = h / group;
    std::span<const float> q(q_.data() + h * d, d);
    for (int64_t t = 0; t < cache.len; ++t)
      scores_[t] = dot(q, {cache.keys.data() + t * kv_dim + kvh * d, static_cast<size_t>(d)}) * scale;
    softmax_inplace(scores_);
    std::span<float> o(attn_out_.data() + h * d, d);
    std::fill(o.begin(), o.end(), 0.0f);
    for (int64_t t = 0; t < cache.len; ++t)
      axpy(scores_[t], {cache.values.data() + t * kv_dim + kvh * d, static_cast<size_t>(d)}, o);
  }
  if (shape_.output_gate)
    for (size_t i = 0; i < attn_out_.size(); ++i) attn_out_[i] *= sigmoid(gate_[i]);
  linear(w_.o_proj, attn_out_, out, DequantMode::kFma, pool_, matvec_);
}

}  // namespace streammoe
