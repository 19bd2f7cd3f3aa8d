#include "engine/models/model.h"

#include "engine/model/weights.h"
#include "engine/ops/vec.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

const ArchLoader& loader_for(Arch arch) {
  for (const ArchLoader* l : {&qwen3_5_moe_loader(), &qwen3_moe_loader()})
    if (l->arch == arch) return *l;
  fail("no loader for architecture {}", arch_name(arch));
}

// Parameters held by the routed experts, whether they are tensors of the checkpoint (HF) or
// records of the expert files (packed).
int64_t expert_params(const ModelConfig& c) {
  int64_t moe_layers = 0;
  for (FfnKind k : c.ffn_types) moe_layers += k == FfnKind::kMoe;
  return moe_layers * c.num_experts * 3 * c.moe_intermediate_size * c.hidden_size;
}

// Experts count from the config, not the store: a packed folder's store holds no experts.
void count_params(const TensorStore& store, const ModelConfig& c, int64_t* total, int64_t* active) {
  const int64_t experts = expert_params(c);
  *total = experts;
  for (const auto& name : store.names())
    if (name.find(".mlp.experts.") == std::string::npos) *total += store.find(name)->numel();
  *active = *total - experts + (c.num_experts ? experts / c.num_experts * c.experts_per_tok : 0);
}

}  // namespace

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const ModelConfig& config, const TensorStore& store, ExpertSource& experts) {
  std::unique_ptr<Model> m(new Model());
  m->config_ = config;
  m->experts_ = &experts;
  const ModelConfig& c = m->config_;
  WeightLoader w(store, c.tensor_prefix);

  m->embed_ = w.matrix("embed_tokens.weight", c.vocab_size, c.hidden_size);
  m->final_norm_ = w.vector("norm.weight", c.hidden_size);
  if (store.has("lm_head.weight"))
    m->lm_head_ = w.matrix_abs("lm_head.weight", c.vocab_size, c.hidden_size);
  else if (c.tie_word_embeddings)
    m->lm_head_ = m->embed_;
  else
    fail("{}: missing tensor lm_head.weight (and tie_word_embeddings is false)", store.folder().string());

  m->rope_ = std::make_unique<Rope>(c.rotary_dim, c.rope_theta);
  const ArchLoader& arch = loader_for(c.arch);
  m->layers_.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    DecoderLayer& layer = m->layers_[i];
    layer.mixer_kind = c.layer_types[i];
    layer.ffn_kind = c.ffn_types[i];
    arch.load_layer(w, c, i, *m->rope_, experts, layer);
  }
  m->h_.resize(c.hidden_size);
  m->normed_.resize(c.hidden_size);
  m->mixed_.resize(c.hidden_size);
  count_params(store, c, &m->params_total_, &m->params_active_);
  return m;
}

ModelState Model::new_state() const {
  ModelState s;
  s.kv.resize(layers_.size());
  s.delta.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i].delta_net) s.delta[i] = layers_[i].delta_net->new_state();
  return s;
}

void Model::forward(ModelState& state, int32_t token, std::span<float> logits, PhaseTimes* times) {
  const ModelConfig& c = config_;
  const float eps = static_cast<float>(c.rms_norm_eps);
  if (token < 0 || token >= c.vocab_size) fail("token id {} out of range [0, {})", token, c.vocab_size);
  row_to_f32(embed_, token, h_);
  // NaN or inf in the residual stream (weights of 0xFF bytes, an overflow) would flow into every
  // later logit and pass for a result: stop at the first layer that produces one. Measured on the
  // bundled model: the checks take 0.35 us of a 3.2 ms decode token (0.01%).
  if (!all_finite(h_))
    fail("non-finite activations (NaN or inf) in the embedding of token id {} at token {}", token, state.pos);
  for (size_t i = 0; i < layers_.size(); ++i) {
    DecoderLayer& layer = layers_[i];
    rmsnorm(h_, layer.input_norm, eps, c.norm_one_plus_weight, normed_);
    if (layer.mixer_kind == LayerKind::kLinearAttention) {
      ScopedPhase phase(times, Phase::kLinearAttention);
      layer.delta_net->step(normed_, state.delta[i], mixed_);
    } else {
      ScopedPhase phase(times, Phase::kAttention);
      layer.attention->step(normed_, state.pos, state.kv[i], mixed_);
    }
    axpy(1.0f, mixed_, h_);
    rmsnorm(h_, layer.post_attention_norm, eps, c.norm_one_plus_weight, normed_);
    if (layer.ffn_kind == FfnKind::kMoe) {
      layer.moe->step(normed_, mixed_, state.pos, *routing_, times);
    } else {
      ScopedPhase phase(times, Phase::kExpertCompute);
      swiglu_mlp(layer.dense, normed_, mixed_, dense_gate_, dense_up_, DequantMode::kFma, pool_.get());
    }
    axpy(1.0f, mixed_, h_);
    if (!all_finite(h_)) fail("non-finite activations (NaN or inf) after layer {} at token {}", i, state.pos);
  }
  rmsnorm(h_, final_norm_, eps, c.norm_one_plus_weight, normed_);
  {
    ScopedPhase phase(times, Phase::kLmHead);
    linear(lm_head_, normed_, logits, DequantMode::kFma, pool_.get());
  }
  if (!all_finite(logits))
    fail("non-finite logits (NaN or inf) at token {}, after a finite last layer (final norm or lm_head)", state.pos);
  state.pos += 1;
}

std::vector<Routing> Model::last_routing() const {
  std::vector<Routing> r(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i].moe) r[i] = layers_[i].moe->last_routing();
  return r;
}

int64_t Model::next_moe_layer(int64_t layer) const {
  for (int64_t l = layer + 1; l < static_cast<int64_t>(layers_.size()); ++l)
    if (layers_[l].moe) return l;
  return -1;
}

void Model::set_threads(int64_t threads) {
  if (threads < 1 || threads > 256) fail("compute threads {} out of range [1, 256]", threads);
  pool_ = threads > 1 ? std::make_unique<ThreadPool>(static_cast<int>(threads)) : nullptr;
  for (auto& layer : layers_) {
    if (layer.attention) layer.attention->set_pool(pool_.get());
    if (layer.delta_net) layer.delta_net->set_pool(pool_.get());
    if (layer.moe) layer.moe->set_pool(pool_.get());
  }
}

void Model::set_dequant(DequantMode mode) {
  for (auto& layer : layers_)
    if (layer.moe) layer.moe->set_dequant(mode);
}

}  // namespace streammoe
