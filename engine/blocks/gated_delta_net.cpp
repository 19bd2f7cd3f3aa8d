#include "engine/blocks/gated_delta_net.h"

#include <cmath>

#include "engine/ops/vec.h"

namespace streammoe {
GatedDeltaNet::GatedDeltaNet(const DeltaNetShape& shape, DeltaNetWeights weights)
    : shape_(shape), w_(std::move(weights)) {
  qkv_.resize(shape.conv_dim());
  mixed_.resize(shape.conv_dim());
  z_.resize(shape.value_dim());
  b_.resize(shape.v_heads);
  a_.resize(shape.v_heads);
  core_.resize(shape.value_dim());
}

DeltaNetState GatedDeltaNet::new_state() const {
  DeltaNetState s;
  s.conv.assign((shape_.conv_kernel - 1) * shape_.conv_dim(), 0.0f);
  s.recurrent.assign(shape_.v_heads * shape_.k_head_dim * shape_.v_head_dim, 0.0f);
  return s;
}

void GatedDeltaNet::step(std::span<const float> x, DeltaNetState& state, std::span<float> out) {
  const int64_t channels = shape_.conv_dim(), kernel = shape_.conv_kernel;
  const int64_t dk = shape_.k_head_dim, dv = shape_.v_head_dim;
  input_.bind(x);
  linear(w_.in_proj_qkv, input_, qkv_, DequantMode::kFma, pool_, matvec_);
  linear(w_.in_proj_z, input_, z_, DequantMode::kFma, pool_, matvec_);
  linear(w_.in_proj_b, input_, b_, DequantMode::kFma, pool_, matvec_);
  linear(w_.in_proj_a, input_, a_, DequantMode::kFma, pool_, matvec_);

  // Depthwise causal conv over [history..., current], then silu; then shift the history.
  for (int64_t c = 0; c < channels; ++c) {
    const float* w = w_.conv.data() + c * kernel;
    float acc = w[kernel - 1] * qkv_[c];
    for (int64_t j = 0; j < kernel - 1; ++j) acc += w[j] * state.conv[j * channels + c];
    mixed_[c] = silu(acc);
  }
  if (kernel > 1) {
    std::copy(state.conv.begin() + channels, state.conv.end(), state.conv.begin());
    std::copy(qkv_.begin(), qkv_.end(), state.conv.end() - channels);
  }

  float* q_all = mixed_.data();
  float* k_all = mixed_.data() + shape_.key_dim();
  const float* v_all = mixed_.data() + 2 * shape_.key_dim();
  const float q_scale = 1.0f / std::sqrt(static_cast<float>(dk));
  for (int64_t h = 0; h < shape_.k_heads; ++h) {
    std::span<float> q(q_all + h * dk, dk), k(k_all + h * dk, dk);
    l2norm_inplace(q, 1e-6f);
    l2norm_inplace(k, 1e-6f);
    for (float& v : q) v *= q_scale;
  }

  const int64_t group = shape_.v_heads / shape_.k_heads;  // repeat_interleave of q/k heads
  for (int64_t h = 0; h < shape_.v_heads; ++h) {
    const float* q = q_all + (h / group) * dk;
    const float* k = k_all + (h / group) * dk;
    const float* v = v_all + h * dv;
    const float beta = sigmoid(b_[h]);
    const float decay = std::exp(-std::exp(w_.a_log[h]) * softplus(a_[h] + w_.dt_bias[h]));
    float* S = state.recurrent.data() + h * dk * dv;  // S[i][j], i over dk, j over dv
    for (int64_t i = 0; i < dk * dv; ++i) S[i] *= decay;
    float* o = core_.data() + h * dv;
    for (int64_t j = 0; j < dv; ++j) {
      float kv_mem = 0.0f;
      for (int64_t i = 0; i < dk; ++i) kv_mem += S[i * dv + j] * k[i];
      const float delta = (v[j] - kv_mem) * beta;
      float acc = 0.0f;
      for (int64_t i = 0; i < dk; ++i) {
        S[i * dv + j] += k[i] * delta;
        acc += S[i * dv + j] * q[i];
      }
      o[j] = acc;
    }
    std::span<float> oh(o, dv);
    rmsnorm_gated(oh, {z_.data() + h * dv, static_cast<size_t>(dv)}, w_.norm, shape_.eps, oh);
  }
  linear(w_.out_proj, core_, out, DequantMode::kFma, pool_, matvec_);
}

}  // namespace streammoe
