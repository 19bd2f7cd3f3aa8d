#include "engine/models/tensor_table.h"

#include <fmt/format.h>

#include <cctype>
#include <cstring>

#include "engine/util/error.h"

namespace streammoe {
namespace {

// Expands {P}, {L} and {E}.
std::string expand(const char* pattern, const std::string& prefix, int64_t layer, int64_t expert) {
  std::string out;
  for (const char* p = pattern; *p; ++p) {
    if (*p != '{') {
      out += *p;
      continue;
    }
    if (std::strncmp(p, "{P}", 3) == 0)
      out += prefix;
    else if (std::strncmp(p, "{L}", 3) == 0)
      out += std::to_string(layer);
    else if (std::strncmp(p, "{E}", 3) == 0)
      out += std::to_string(expert);
    else
      fail("tensor name pattern '{}': unknown placeholder at '{}'", pattern, p);
    p += 2;
  }
  return out;
}

// Whether `name` is `pattern` with {L} and {E} as decimal numbers; {P} must already be expanded
// or cut off.
bool matches(std::string_view pattern, std::string_view name) {
  size_t n = 0;
  for (size_t p = 0; p < pattern.size(); ++p) {
    if (pattern.compare(p, 3, "{L}") == 0 || pattern.compare(p, 3, "{E}") == 0) {
      const size_t start = n;
      while (n < name.size() && std::isdigit(static_cast<unsigned char>(name[n]))) ++n;
      if (n == start) return false;
      p += 2;
    } else if (n >= name.size() || name[n++] != pattern[p]) {
      return false;
    }
  }
  return n == name.size();
}

bool model_scope(const TensorSpec& s) {
  return s.holder == TensorHolder::kModel || s.holder == TensorHolder::kUntiedModel;
}

}  // namespace

bool is_routed_expert(TensorRole role) {
  switch (role) {
    case TensorRole::kExpertGate:
    case TensorRole::kExpertUp:
    case TensorRole::kExpertDown:
    case TensorRole::kExpertsGateUp:
    case TensorRole::kExpertsDown:
    case TensorRole::kMlxExpertsGate:
    case TensorRole::kMlxExpertsUp:
    case TensorRole::kMlxExpertsDown:
      return true;
    default:
      return false;
  }
}

const TensorTable& tensor_table(Arch arch) {
  for (const TensorTable* t : {&qwen3_5_moe_tensors(), &qwen3_moe_tensors()})
    if (t->arch == arch) return *t;
  fail("no tensor table for architecture {}", arch_name(arch));
}

namespace tensor_shapes {
TensorShape embed(const ModelConfig& c) { return {c.vocab_size, c.hidden_size}; }
TensorShape hidden(const ModelConfig& c) { return {c.hidden_size}; }
TensorShape head_dim(const ModelConfig& c) { return {c.head_dim}; }
TensorShape q_proj(const ModelConfig& c) {
  return {c.num_heads * c.head_dim * (c.attn_output_gate ? 2 : 1), c.hidden_size};
}
TensorShape kv_proj(const ModelConfig& c) { return {c.num_kv_heads * c.head_dim, c.hidden_size}; }
TensorShape o_proj(const ModelConfig& c) { return {c.hidden_size, c.num_heads * c.head_dim}; }
TensorShape router(const ModelConfig& c) { return {c.num_experts, c.hidden_size}; }
TensorShape expert_in(const ModelConfig& c) { return {c.moe_intermediate_size, c.hidden_size}; }
TensorShape expert_out(const ModelConfig& c) { return {c.hidden_size, c.moe_intermediate_size}; }
TensorShape experts_gate_up(const ModelConfig& c) {
  return {c.num_experts, 2 * c.moe_intermediate_size, c.hidden_size};
}
TensorShape experts_in(const ModelConfig& c) {
  return {c.num_experts, c.moe_intermediate_size, c.hidden_size};
}
TensorShape experts_out(const ModelConfig& c) {
  return {c.num_experts, c.hidden_size, c.moe_intermediate_size};
}
}  // namespace tensor_shapes

ModelTensors::ModelTensors(const ModelConfig& config)
    : config_(config), specs_(tensor_table(config.arch).tensors) {}

const TensorSpec* ModelTensors::find(TensorRole role) const {
  for (const TensorSpec& s : specs_)
    if (s.role == role) return &s;
  return nullptr;
}

const TensorSpec& ModelTensors::spec(TensorRole role) const {
  if (const TensorSpec* s = find(role)) return *s;
  fail("{}: the tensor table has no tensor of role {}", arch_name(config_.arch),
       static_cast<int>(role));
}

bool ModelTensors::holds(TensorRole role, int64_t layer) const {
  const TensorSpec* s = find(role);
  if (!s) return false;
  const ModelConfig& c = config_;
  switch (s->holder) {
    case TensorHolder::kModel:
      return true;
    case TensorHolder::kUntiedModel:
      return !c.tie_word_embeddings;
    case TensorHolder::kEveryLayer:
      return true;
    case TensorHolder::kLinearAttention:
      return c.layer_types.at(layer) == LayerKind::kLinearAttention;
    case TensorHolder::kFullAttention:
      return c.layer_types.at(layer) == LayerKind::kFullAttention;
    case TensorHolder::kMoe:
      return c.ffn_types.at(layer) == FfnKind::kMoe;
    case TensorHolder::kSharedExpert:
      return c.ffn_types.at(layer) == FfnKind::kMoe && c.shared_expert_intermediate_size > 0;
    case TensorHolder::kDense:
      return c.ffn_types.at(layer) == FfnKind::kDense;
  }
  return false;
}

std::string ModelTensors::name(TensorRole role, int64_t layer, int64_t expert) const {
  return expand(spec(role).pattern, config_.tensor_prefix, layer, expert);
}

TensorShape ModelTensors::shape(TensorRole role) const { return spec(role).shape(config_); }

std::vector<NamedTensor> ModelTensors::resident() const {
  std::vector<NamedTensor> out;
  auto add = [&](const TensorSpec& s, int64_t layer) {
    out.push_back({s.role, expand(s.pattern, config_.tensor_prefix, layer, 0), s.shape(config_)});
  };
  for (const TensorSpec& s : specs_)
    if (model_scope(s) && holds(s.role, 0)) add(s, 0);
  for (int64_t l = 0; l < config_.num_layers; ++l)
    for (const TensorSpec& s : specs_)
      if (!model_scope(s) && !is_routed_expert(s.role) && holds(s.role, l)) add(s, l);
  return out;
}

std::optional<TensorRole> ModelTensors::role_of(std::string_view name) const {
  for (const TensorSpec& s : specs_) {
    std::string_view pattern = s.pattern;
    std::string_view rest = name;
    if (pattern.starts_with("{P}")) {
      if (!rest.starts_with(config_.tensor_prefix)) continue;
      pattern.remove_prefix(3);
      rest.remove_prefix(config_.tensor_prefix.size());
    }
    if (matches(pattern, rest)) return s.role;
  }
  return std::nullopt;
}

bool ModelTensors::is_routed_expert_name(std::string_view name) const {
  for (const TensorSpec& s : specs_) {
    if (!is_routed_expert(s.role)) continue;
    std::string_view pattern = s.pattern;
    if (!pattern.starts_with("{P}")) {
      if (matches(pattern, name)) return true;
      continue;
    }
    pattern.remove_prefix(3);
    // {P}: any prefix that ends where a name component starts.
    for (size_t at = 0; at <= name.size(); ++at)
      if ((at == 0 || name[at - 1] == '.') && matches(pattern, name.substr(at))) return true;
  }
  return false;
}

uint64_t StoredMatrix::bytes() const {
  return static_cast<uint64_t>(rows * cols) * dtype_size(tensor->dtype);
}

StoredExpert locate_expert(const TensorStore& store, const ModelTensors& tensors, int64_t layer,
                           int64_t expert) {
  using R = TensorRole;
  const std::string gate_up_name = tensors.name(R::kExpertsGateUp, layer);
  if (store.has(gate_up_name)) {
    const TensorInfo& gate_up = store.get(gate_up_name, tensors.shape(R::kExpertsGateUp));
    const TensorInfo& down =
        store.get(tensors.name(R::kExpertsDown, layer), tensors.shape(R::kExpertsDown));
    const int64_t I = gate_up.shape[1] / 2, H = gate_up.shape[2];
    const uint64_t in_bytes = static_cast<uint64_t>(I * H) * dtype_size(gate_up.dtype);
    const uint64_t out_bytes = static_cast<uint64_t>(H * I) * dtype_size(down.dtype);
    return {{&gate_up, 2 * expert * in_bytes, I, H},
            {&gate_up, (2 * expert + 1) * in_bytes, I, H},
            {&down, expert * out_bytes, H, I}};
  }
  auto matrix = [&](R role) {
    const TensorShape shape = tensors.shape(role);
    return StoredMatrix{&store.get(tensors.name(role, layer, expert), shape), 0, shape[0],
                        shape[1]};
  };
  return {matrix(R::kExpertGate), matrix(R::kExpertUp), matrix(R::kExpertDown)};
}

}  // namespace streammoe
