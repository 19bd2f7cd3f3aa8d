#include "engine/blocks/attention.h"

#include <cmath>

#include "engine/ops/vec.h"
#include "engine/util/error.h"

namespace streammoe {

Attention::Attention(const AttentionShape& shape, AttentionWeights weights, const Rope& rope)
    : shape_(shape), w_(std::move(weights)), rope_(rope) {
  const int64_t q_dim = shape.heads * shape.head_dim;
  q_.resize(q_dim);
  gate_.resize(q_dim);
}

void Attention::forward(std::span<const float> x, int64_t pos, KvCache& cache, std::span<float> out) {
  const int64_t H = shape_.hidden, T = static_cast<int64_t>(x.size()) / H;
  const int64_t q_full = w_.q_proj.rows(), kv_dim = shape_.kv_heads * shape_.head_dim;
  const int64_t q_dim = shape_.heads * shape_.head_dim;
  if (T < 1 || static_cast<int64_t>(x.size()) != T * H || out.size() != x.size())
    fail("attention: x of {} and out of {} values for hidden size {}", x.size(), out.size(), H);
  q_full_.resize(T * q_full);
  k_.resize(T * kv_dim);
  v_.resize(T * kv_dim);
  attn_out_.resize(T * q_dim);
  const std::span<SharedActivation> inputs = bind_rows(inputs_, x, H);
  linear_batch(w_.q_proj, inputs, q_full_, DequantMode::kFma, pool_, matvec_);
  linear_batch(w_.k_proj, inputs, k_, DequantMode::kFma, pool_, matvec_);
  linear_batch(w_.v_proj, inputs, v_, DequantMode::kFma, pool_, matvec_);
  for (int64_t t = 0; t < T; ++t) {
    attend(row_of(q_full_, t, q_full), row_of(k_, t, kv_dim), row_of(v_, t, kv_dim), pos + t, cache,
           row_of(attn_out_, t, q_dim));
    inputs_[t].bind(row_of(attn_out_, t, q_dim));
  }
  linear_batch(w_.o_proj, inputs, out, DequantMode::kFma, pool_, matvec_);
}

void Attention::attend(std::span<const float> q_full, std::span<float> k_new, std::span<const float> v_new,
                       int64_t pos, KvCache& cache, std::span<float> attn_out) {
  const int64_t d = shape_.head_dim, kv_dim = shape_.kv_heads * d;
  for (int64_t h = 0; h < shape_.heads; ++h) {
    const float* src = q_full.data() + h * d * (shape_.output_gate ? 2 : 1);
    std::span<float> q(q_.data() + h * d, d);
    rmsnorm({src, static_cast<size_t>(d)}, w_.q_norm, shape_.eps, shape_.norm_one_plus_weight, q);
    rope_.apply(q, pos);
    if (shape_.output_gate) std::copy(src + d, src + 2 * d, gate_.data() + h * d);
  }
  for (int64_t h = 0; h < shape_.kv_heads; ++h) {
    std::span<float> k = k_new.subspan(h * d, d);
    rmsnorm(k, w_.k_norm, shape_.eps, shape_.norm_one_plus_weight, k);
    rope_.apply(k, pos);
  }
  cache.keys.insert(cache.keys.end(), k_new.begin(), k_new.end());
  cache.values.insert(cache.values.end(), v_new.begin(), v_new.end());
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
    std::span<float> o = attn_out.subspan(h * d, d);
    std::fill(o.begin(), o.end(), 0.0f);
    for (int64_t t = 0; t < cache.len; ++t)
      axpy(scores_[t], {cache.values.data() + t * kv_dim + kvh * d, static_cast<size_t>(d)}, o);
  }
  if (shape_.output_gate)
    for (size_t i = 0; i < attn_out.size(); ++i) attn_out[i] *= sigmoid(gate_[i]);
}

}  // namespace streammoe
