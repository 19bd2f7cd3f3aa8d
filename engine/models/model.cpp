#include "engine/models/model.h"

#include <set>

#include "engine/models/resident_weights.h"
#include "engine/models/tensor_table.h"
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

// Experts count from the config, not the store: a packed folder's store holds no experts. A
// quantised resident weight counts its values, not its codes, scales and biases.
void count_params(const TensorStore& store, const ModelConfig& c, const ResidentFormat& resident,
                  int64_t* total, int64_t* active) {
  const int64_t experts = expert_params(c);
  const ModelTensors tensors(c);
  *total = experts;
  std::set<std::string> companions;
  for (const auto& name : store.names()) {
    const std::optional<TensorRole> role = tensors.role_of(name);
    if (!role || !resident_quant(resident, *role, tensors.shape(*role))) continue;
    companions.insert(quant_scales_name(name));
    companions.insert(quant_biases_name(name));
  }
  for (const auto& name : store.names()) {
    if (tensors.is_routed_expert_name(name) || companions.count(name)) continue;
    const std::optional<TensorRole> role = tensors.role_of(name);
    if (role && resident_quant(resident, *role, tensors.shape(*role))) {
      const TensorShape shape = tensors.shape(*role);
      *total += shape[0] * shape[1];
    } else {
      *total += store.find(name)->numel();
    }
  }
  *active = *total - experts + (c.num_experts ? experts / c.num_experts * c.experts_per_tok : 0);
}

}  // namespace

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const ModelConfig& config, const TensorStore& store,
                                   ExpertSource& experts, const ResidentFormat& resident) {
  std::unique_ptr<Model> m(new Model());
  m->config_ = config;
  m->experts_ = &experts;
  const ModelConfig& c = m->config_;

  const ModelTensors tensors(c);
  const ResidentWeights weights(store, tensors, resident);
  m->embed_ = weights.linear(TensorRole::kEmbed);
  m->final_norm_ = to_f32(
      store.get_float(tensors.name(TensorRole::kFinalNorm), tensors.shape(TensorRole::kFinalNorm)));
  if (store.has(tensors.name(TensorRole::kLmHead)))
    m->lm_head_ = weights.linear(TensorRole::kLmHead);
  else if (c.tie_word_embeddings)
    m->lm_head_ = m->embed_;
  else
    fail("{}: missing tensor {} (and tie_word_embeddings is false)", store.folder().string(),
         tensors.name(TensorRole::kLmHead));

  m->rope_ = std::make_unique<Rope>(c.rotary_dim, c.rope_theta);
  const ArchLoader& arch = loader_for(c.arch);
  m->layers_.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    DecoderLayer& layer = m->layers_[i];
    layer.mixer_kind = c.layer_types[i];
    layer.ffn_kind = c.ffn_types[i];
    arch.load_layer(weights, store, tensors, c, i, *m->rope_, experts, layer);
  }
  m->h_.resize(c.hidden_size);
  m->normed_.resize(c.hidden_size);
  m->mixed_.resize(c.hidden_size);
  count_params(store, c, resident, &m->params_total_, &m->params_active_);
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

void Model::forward(ModelState& state, std::span<const int32_t> tokens, std::span<float> logits,
                    PhaseTimes* times) {
  const ModelConfig& c = config_;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const int64_t T = static_cast<int64_t>(tokens.size()), H = c.hidden_size, V = c.vocab_size;
  if (T == 0) fail("forward: no tokens");
  const bool every_row = static_cast<int64_t>(logits.size()) == T * V;
  if (!every_row && !logits.empty() && static_cast<int64_t>(logits.size()) != V)
    fail("forward: logits hold {} values, expected 0 (none), {} (last token) or {} x {}", logits.size(), V, T, V);
  h_.resize(T * H);
  normed_.resize(T * H);
  mixed_.resize(T * H);
  const auto row = [H](std::vector<float>& v, int64_t t) { return std::span<float>(v).subspan(t * H, H); };
  // NaN or inf in the residual stream (weights of 0xFF bytes, an overflow) would flow into every
  // later logit and pass for a result: stop at the first layer that produces one. Measured on the
  // bundled model: the checks take 0.35 us of a 3.2 ms decode token (0.01%).
  const auto first_non_finite = [&]() -> int64_t {
    for (int64_t t = 0; t < T; ++t)
      if (!all_finite(row(h_, t))) return t;
    return -1;
  };

  for (int64_t t = 0; t < T; ++t) {
    if (tokens[t] < 0 || tokens[t] >= V) fail("token id {} out of range [0, {})", tokens[t], V);
    row_to_f32(embed_, tokens[t], row(h_, t));  // dequantised when quantised
  }
  if (const int64_t t = first_non_finite(); t >= 0)
    fail("non-finite activations (NaN or inf) in the embedding of token id {} at token {}", tokens[t], state.pos + t);
  const std::span<float> normed(normed_), mixed(mixed_);
  acts_.resize(T);
  act_ptrs_.clear();
  for (int64_t t = 0; t < T; ++t) act_ptrs_.push_back(&acts_[t]);
  for (size_t i = 0; i < layers_.size(); ++i) {
    DecoderLayer& layer = layers_[i];
    for (int64_t t = 0; t < T; ++t)
      rmsnorm(row(h_, t), layer.input_norm, eps, c.norm_one_plus_weight, row(normed_, t));
    if (layer.mixer_kind == LayerKind::kLinearAttention) {
      ScopedPhase phase(times, Phase::kLinearAttention);
      layer.delta_net->forward(normed, state.delta[i], mixed);
    } else {
      ScopedPhase phase(times, Phase::kAttention);
      layer.attention->forward(normed, state.pos, state.kv[i], mixed);
    }
    for (int64_t t = 0; t < T; ++t) {
      axpy(1.0f, row(mixed_, t), row(h_, t));
      rmsnorm(row(h_, t), layer.post_attention_norm, eps, c.norm_one_plus_weight, row(normed_, t));
    }
    if (layer.ffn_kind == FfnKind::kMoe) {
      layer.moe->step(normed_, mixed_, state.pos, *routing_, times);
    } else {
      ScopedPhase phase(times, Phase::kExpertCompute);
      row_spans_.clear();
      for (int64_t t = 0; t < T; ++t) {
        acts_[t].bind(row(normed_, t));
        row_spans_.push_back(row(mixed_, t));
      }
      swiglu_mlp(layer.dense, act_ptrs_, row_spans_, dense_scratch_, DequantMode::kFma, pool_.get(), matvec_);
    }
    for (int64_t t = 0; t < T; ++t) axpy(1.0f, row(mixed_, t), row(h_, t));
    if (const int64_t t = first_non_finite(); t >= 0)
      fail("non-finite activations (NaN or inf) after layer {} at token {}", i, state.pos + t);
  }
  // Logits where they are asked for: every position (eval) or the last (generate).
  if (logits.empty()) {
    state.pos += T;
    return;
  }
  const int64_t from = every_row ? 0 : T - 1;
  for (int64_t t = from; t < T; ++t) {
    rmsnorm(row(h_, t), final_norm_, eps, c.norm_one_plus_weight, row(normed_, t));
    acts_[t].bind(row(normed_, t));
  }
  {
    ScopedPhase phase(times, Phase::kLmHead);
    row_spans_.clear();
    for (int64_t t = from; t < T; ++t) row_spans_.push_back(logits.subspan(every_row ? t * V : 0, V));
    linear_batch(lm_head_, std::span(act_ptrs_).subspan(from), row_spans_, DequantMode::kFma, pool_.get(), matvec_);
  }
  if (!all_finite(logits))
    fail("non-finite logits (NaN or inf) at token {}, after a finite last layer (final norm or lm_head)",
         state.pos + T - 1);
  state.pos += T;
}

std::vector<Routing> Model::last_routing(int64_t row) const {
  std::vector<Routing> r(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i].moe) r[i] = layers_[i].moe->last_routing(row);
  return r;
}

int64_t Model::distinct_experts_routed() const {
  int64_t n = 0;
  for (const auto& layer : layers_)
    if (layer.moe) n += layer.moe->distinct_routed();
  return n;
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

void Model::set_fetch_batch(int64_t experts) {
  for (auto& layer : layers_)
    if (layer.moe) layer.moe->set_fetch_batch(experts);
}

void Model::set_expert_order(ExpertOrder order) {
  for (auto& layer : layers_)
    if (layer.moe) layer.moe->set_expert_order(order);
}

void Model::set_matvec(MatvecPath path) {
  matvec_ = path;
  for (auto& layer : layers_) {
    if (layer.attention) layer.attention->set_matvec(path);
    if (layer.delta_net) layer.delta_net->set_matvec(path);
    if (layer.moe) layer.moe->set_matvec(path);
  }
}

}  // namespace streammoe
