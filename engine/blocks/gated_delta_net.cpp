#include "engine/blocks/gated_delta_net.h"

#include <cmath>

#include "engine/ops/vec.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
GatedDeltaNet::GatedDeltaNet(const DeltaNetShape& shape, DeltaNetWeights weights)
    : shape_(shape), w_(std::move(weights)) {
  mixed_.resize(shape.conv_dim());
}

DeltaNetState GatedDeltaNet::new_state() const {
  DeltaNetState s;
  s.conv.assign((shape_.conv_kernel - 1) * shape_.conv_dim(), 0.0f);
  s.recurrent.assign(shape_.v_heads * shape_.k_head_dim * shape_.v_head_dim, 0.0f);
  return s;
}

void GatedDeltaNet::forward(std::span<const float> x, DeltaNetState& state, std::span<float> out) {
  const int64_t H = shape_.hidden, T = static_cast<int64_t>(x.size()) / H;
  const int64_t channels = shape_.conv_dim(), values = shape_.value_dim(), heads = shape_.v_heads;
  if (T < 1 || static_cast<int64_t>(x.size()) != T * H || out.size() != x.size())
    fail("gated delta net: x of {} and out of {} values for hidden size {}", x.size(), out.size(), H);
  qkv_.resize(T * channels);
  z_.resize(T * values);
  b_.resize(T * heads);
  a_.resize(T * heads);
  core_.resize(T * values);
  const std::span<SharedActivation> inputs = bind_rows(inputs_, x, H);
  linear_batch(w_.in_proj_qkv, inputs, qkv_, DequantMode::kFma, pool_, matvec_);
  linear_batch(w_.in_proj_z, inputs, z_, DequantMode::kFma, pool_, matvec_);
  linear_batch(w_.in_proj_b, inputs, b_, DequantMode::kFma, pool_, matvec_);
  linear_batch(w_.in_proj_a, inputs, a_, DequantMode::kFma, pool_, matvec_);
  for (int64_t t = 0; t < T; ++t) {
    recur(row_of(qkv_, t, channels), row_of(z_, t, values), row_of(b_, t, heads), row_of(a_, t, heads), state,
          row_of(core_, t, values));
    inputs_[t].bind(row_of(core_, t, values));
  }
  linear_batch(w_.out_proj, inputs, out, DequantMode::kFma, pool_, matvec_);
}

void GatedDeltaNet::recur(std::span<const float> qkv, std::span<const float> z, std::span<const float> b,
                          std::span<const float> a, DeltaNetState& state, std::span<float> core) {
  const int64_t channels = shape_.conv_dim(), kernel = shape_.conv_kernel;
  const int64_t dk = shape_.k_head_dim, dv = shape_.v_head_dim;
  // Depthwise causal conv over [history..., current], then silu; then shift the history.
  for (int64_t c = 0; c < channels; ++c) {
    const float* w = w_.conv.data() + c * kernel;
    float acc = w[kernel - 1] * qkv[c];
    for (int64_t j = 0; j < kernel - 1; ++j) acc += w[j] * state.conv[j * channels + c];
    mixed_[c] = silu(acc);
  }
  if (kernel > 1) {
    std::copy(state.conv.begin() + channels, state.conv.end(), state.conv.begin());
    std::copy(qkv.begin(), qkv.end(), state.conv.end() - channels);
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

  // The gated delta rule, head by head (heads are independent: split over the pool). Each pass
  // walks S row by row (i over dk), so its inner loops run over contiguous j and vectorise; every
  // sum still adds its terms in ascending i, as the per-column form would.
  const int64_t group = shape_.v_heads / shape_.k_heads;  // repeat_interleave of q/k heads
  kv_mem_.resize(shape_.v_heads * dv);
  const auto heads = [&](int64_t first, int64_t last) {
    for (int64_t h = first; h < last; ++h) {
      const float* __restrict q = q_all + (h / group) * dk;
      const float* __restrict k = k_all + (h / group) * dk;
      const float* __restrict v = v_all + h * dv;
      const float beta = sigmoid(b[h]);
      const float decay = std::exp(-std::exp(w_.a_log[h]) * softplus(a[h] + w_.dt_bias[h]));
      float* __restrict S = state.recurrent.data() + h * dk * dv;  // S[i][j], i over dk, j over dv
      float* __restrict kv_mem = kv_mem_.data() + h * dv;           // S^T k, then the delta
      float* __restrict o = core.data() + h * dv;
      std::fill(kv_mem, kv_mem + dv, 0.0f);
      std::fill(o, o + dv, 0.0f);
      for (int64_t i = 0; i < dk; ++i) {
        float* __restrict s_row = S + i * dv;
        for (int64_t j = 0; j < dv; ++j) {
          s_row[j] *= decay;
          kv_mem[j] += s_row[j] * k[i];
        }
      }
      for (int64_t j = 0; j < dv; ++j) kv_mem[j] = (v[j] - kv_mem[j]) * beta;
      for (int64_t i = 0; i < dk; ++i) {
        float* __restrict s_row = S + i * dv;
        for (int64_t j = 0; j < dv; ++j) {
          s_row[j] += k[i] * kv_mem[j];
          o[j] += s_row[j] * q[i];
        }
      }
      std::span<float> oh(o, dv);
      rmsnorm_gated(oh, z.subspan(h * dv, dv), w_.norm, shape_.eps, oh);
    }
  };
  // As linear() does for small weights: below 256 KiB of state, waking the pool costs more than
  // it saves (the bundled model's heads hold a few KiB).
  constexpr size_t kMinParallelStateBytes = 256 * 1024;
  if (pool_ && pool_->size() > 1 && state.recurrent.size() * sizeof(float) >= kMinParallelStateBytes) {
    pool_->parallel_for(shape_.v_heads, heads);
  } else {
    heads(0, shape_.v_heads);
  }
}

}  // namespace streammoe
