#include "engine/models/model.h"

#include "engine/io/open_expert_source.h"
#include "engine/model/weights.h"
#include "engine/ops/vec.h"
#include "engine/models/routing_trace.h"
#include "engine/models/tensor_table.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

const ArchLoader& loader_for(Arch arch) {
  for (const ArchLoader* l : {&qwen3_5_moe_loader(), &qwen3_moe_loader()})
    if (l->arch == arch) return *l;
  fail("no loader for architecture {}", arch_name(arch));
}

// Experts count from the config, not the store: a packed folder's store holds no experts.
void count_params(const TensorStore& store, const ModelConfig& c, int64_t* total, int64_t* active) {
  const int64_t experts = expert_params(c);
  const ModelTensors tensors(c);
  *total = experts;
  for (const auto& name : store.names())
    if (!tensors.is_routed_expert_name(name)) *total += store.find(name)->numel();
  *active = *total - experts + (c.num_experts ? experts / c.num_experts * c.experts_per_tok : 0);
}

}  // namespace

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::filesystem::path& folder, const ExpertIoOptions& io,
                                   const ExpertCacheOptions& cache) {
  std::unique_ptr<Model> m(new Model());
  m->config_ = load_config(folder);
  const ModelConfig& c = m->config_;
  m->store_ = std::make_unique<TensorStore>(TensorStore::open(folder));
  WeightLoader w(*m->store_, c.tensor_prefix);

  m->embed_ = w.matrix("embed_tokens.weight", c.vocab_size, c.hidden_size);
  m->final_norm_ = w.vector("norm.weight", c.hidden_size);
  if (m->store_->has("lm_head.weight"))
    m->lm_head_ = w.matrix_abs("lm_head.weight", c.vocab_size, c.hidden_size);
  else if (c.tie_word_embeddings)
    m->lm_head_ = m->embed_;
  else
    fail("{}: missing tensor lm_head.weight (and tie_word_embeddings is false)", folder.string());

  m->rope_ = std::make_unique<Rope>(c.rotary_dim, c.rope_theta);
  m->experts_ = open_expert_source(folder, w, c, io, cache);
  const ArchLoader& arch = loader_for(c.arch);
  m->layers_.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    DecoderLayer& layer = m->layers_[i];
    layer.mixer_kind = c.layer_types[i];
    layer.ffn_kind = c.ffn_types[i];
    arch.load_layer(w, c, i, *m->rope_, *m->experts_, layer);
  }
  m->h_.resize(c.hidden_size);
  m->normed_.resize(c.hidden_size);
  m->mixed_.resize(c.hidden_size);
  count_params(*m->store_, c, &m->params_total_, &m->params_active_);
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
      const std::function<void()> before_compute = [&] {
        if (lookahead_) lookahead_(state.pos, static_cast<int64_t>(i), normed_);
      };
      // Speculative early routing: the next MoE layer will use the routing its router gives on
      // this layer's input, decided before this layer runs (lossy: the input differs).
      const Routing* forced = replay_ ? &replay_->at(state.pos, i) : nullptr;
      if (early_routing_ && !forced && !early_[i].experts.empty()) forced = &early_[i];
      if (early_routing_) {
        const int64_t next = next_moe_layer(static_cast<int64_t>(i));
        if (next >= 0) {
          ScopedPhase phase(times, Phase::kRouting);
          early_[next] = layers_[next].moe->route(normed_);
        }
      }
      layer.moe->step(normed_, mixed_, times, forced, &before_compute);
      if (early_routing_) early_[i] = Routing{};
    } else {
      ScopedPhase phase(times, Phase::kExpertCompute);
      swiglu_mlp(layer.dense, normed_, mixed_, dense_gate_, dense_up_, DequantMode::kFma, pool_.get());
    }
    axpy(1.0f, mixed_, h_);
  }
  rmsnorm(h_, final_norm_, eps, c.norm_one_plus_weight, normed_);
  {
    ScopedPhase phase(times, Phase::kLmHead);
    linear(lm_head_, normed_, logits, DequantMode::kFma, pool_.get());
  }
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

void Model::set_early_routing(bool enabled) {
  early_routing_ = enabled;
  early_.assign(layers_.size(), Routing{});
}

void Model::set_routing_replay(const RoutingTrace* trace) {
  if (trace) trace->check_fits(config_);
  replay_ = trace;
}

void Model::set_threads(int64_t threads) {
  if (threads < 1 || threads > 256) fail("--threads {} out of range [1, 256]", threads);
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

void Model::set_top_k(int64_t k) {
  if (k < 0 || k > config_.num_experts) fail("--k {} out of range [0, {}]", k, config_.num_experts);
  for (auto& layer : layers_)
    if (layer.moe) layer.moe->set_top_k(k == 0 ? config_.experts_per_tok : k);
}

}  // namespace streammoe
