#pragma once
// Softmax attention for one decode step with a KV cache: per-head q/k RMSNorm, partial RoPE, GQA,
// and (Qwen3.5) a sigmoid output gate carried by q_proj.
//   q, gate = q_proj(x).view(heads, 2 * head_dim).chunk(2)      (gated variant)
//   q = rope(q_norm(q)); k = rope(k_norm(k_proj(x))); v = v_proj(x)
//   o = softmax(q k^T / sqrt(head_dim)) v;  o *= sigmoid(gate);  out = o_proj(o)
#include <cstdint>
#include <span>
#include <vector>

#include "engine/blocks/rope.h"
#include "engine/ops/linear.h"

namespace streammoe {

struct AttentionShape {
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  bool output_gate = false;
  bool norm_one_plus_weight = false;
  float eps = 1e-6f;
};

struct AttentionWeights {
  LinearRef q_proj;  // [heads * head_dim * (output_gate ? 2 : 1), hidden]
  LinearRef k_proj;  // [kv_heads * head_dim, hidden]
  LinearRef v_proj;  // [kv_heads * head_dim, hidden]
  LinearRef o_proj;  // [hidden, heads * head_dim]
  std::vector<float> q_norm;  // [head_dim]
  std::vector<float> k_norm;  // [head_dim]
};

struct KvCache {
  std::vector<float> keys;    // [len, kv_heads, head_dim]
  std::vector<float> values;  // [len, kv_heads, head_dim]
  int64_t len = 0;
};

class Attention {
 public:
  Attention(const AttentionShape& shape, AttentionWeights weights, const Rope& rope);
  // x: normalised hidden state [hidden]; pos: absolute position; out: [hidden].
  void step(std::span<const float> x, int64_t pos, KvCache& cache, std::span<float> out) { forward(x, pos, cache, out); }
  // A chunk of T tokens at positions pos..pos+T-1, x = [T, hidden] -> out = [T, hidden]: q, k, v
  // and o as batched products (linear_batch: each weight read once per chunk), the attention
  // itself token by token (causal). Bit-identical to T calls of step().
  void forward(std::span<const float> x, int64_t pos, KvCache& cache, std::span<float> out);
  void set_pool(ThreadPool* pool) { pool_ = pool; }
  // How quantised projections meet x (ops/linear.h); q, k and v share one quantisation of x.
  void set_matvec(MatvecPath path) { matvec_ = path; }

 private:
  AttentionShape shape_;
  AttentionWeights w_;
  const Rope& rope_;
  ThreadPool* pool_ = nullptr;
  MatvecPath matvec_ = MatvecPath::kF32;
  // One token's q/k norms, RoPE, cache append and attention over the cache, from its projections
  // to attn_out (o_proj's input).
  void attend(std::span<const float> q_full, std::span<float> k_new, std::span<const float> v_new, int64_t pos,
              KvCache& cache, std::span<float> attn_out);

  std::vector<SharedActivation> inputs_;  // [T] each token's x, then its attention output
  std::vector<float> q_full_, k_, v_, attn_out_;  // [T, width] projections and outputs of a chunk
  std::vector<float> q_, gate_, scores_;          // one token's
};

}  // namespace streammoe
