#pragma once
// Gated DeltaNet linear attention (Qwen3.5 / Qwen3-Next), one decode step with persistent state:
//   qkv = silu(causal_conv1d(in_proj_qkv(x)))           rolling window of conv_kernel inputs
//   q, k, v = split(qkv); q, k repeated to the value heads; q = l2norm(q) / sqrt(dk); k = l2norm(k)
//   beta = sigmoid(in_proj_b(x)); g = -exp(A_log) * softplus(in_proj_a(x) + dt_bias)
//   S = S * exp(g); S += k (x) ((v - S^T k) * beta); o = S^T q          S: [v_heads, dk, dv]
//   o = rmsnorm(o) * w * silu(z) per value head, z = in_proj_z(x);  out = out_proj(o)
#include <cstdint>
#include <span>
#include <vector>

#include "engine/ops/linear.h"

namespace streammoe {

struct DeltaNetShape {
  int64_t hidden = 0;
  int64_t k_heads = 0;
  int64_t v_heads = 0;
  int64_t k_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t conv_kernel = 0;
  float eps = 1e-6f;

  int64_t key_dim() const { return k_heads * k_head_dim; }
  int64_t value_dim() const { return v_heads * v_head_dim; }
  int64_t conv_dim() const { return 2 * key_dim() + value_dim(); }
};

struct DeltaNetWeights {
  LinearRef in_proj_qkv;  // [conv_dim, hidden]
  LinearRef in_proj_z;    // [value_dim, hidden]
  LinearRef in_proj_b;    // [v_heads, hidden]
  LinearRef in_proj_a;    // [v_heads, hidden]
  LinearRef out_proj;     // [hidden, value_dim]
  std::vector<float> conv;     // [conv_dim, conv_kernel]
  std::vector<float> a_log;    // [v_heads]
  std::vector<float> dt_bias;  // [v_heads]
  std::vector<float> norm;     // [v_head_dim]
};

struct DeltaNetState {
  std::vector<float> conv;       // [conv_kernel - 1, conv_dim]: the previous inputs, oldest first
  std::vector<float> recurrent;  // [v_heads, k_head_dim, v_head_dim]
};

class GatedDeltaNet {
 public:
  GatedDeltaNet(const DeltaNetShape& shape, DeltaNetWeights weights);
  DeltaNetState new_state() const;
  // A chunk of T tokens, x = [T, hidden] -> out = [T, hidden]: the projections of the whole chunk
  // as batched products (linear_batch: each weight read once per chunk), the conv and the
  // recurrence token by token. Bit-identical to T calls of step().
  void forward(std::span<const float> x, DeltaNetState& state, std::span<float> out);
  void step(std::span<const float> x, DeltaNetState& state, std::span<float> out) { forward(x, state, out); }
  void set_pool(ThreadPool* pool) { pool_ = pool; }
  // How quantised projections meet x (ops/linear.h); the four input projections share one
  // quantisation of x.
  void set_matvec(MatvecPath path) { matvec_ = path; }

 private:
  DeltaNetShape shape_;
  DeltaNetWeights w_;
  ThreadPool* pool_ = nullptr;
  MatvecPath matvec_ = MatvecPath::kF32;
  // One token's conv, gated delta rule and gated norm, from its projections to core.
  void recur(std::span<const float> qkv, std::span<const float> z, std::span<const float> b,
             std::span<const float> a, DeltaNetState& state, std::span<float> core);

  std::vector<SharedActivation> inputs_;  // [T] each token's x, then its core (out_proj's input)
  std::vector<float> qkv_, z_, b_, a_, core_;  // [T, width] projections and cores of a chunk
  std::vector<float> mixed_;                   // one token's conv output
  std::vector<float> kv_mem_;                  // [v_heads, v_head_dim] one token's S^T k per head
};

}  // namespace streammoe
