#include "engine/model/config.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "engine/util/error.h"

namespace streammoe {
namespace {

using nlohmann::json;

// The model types the engine implements, and where their text model lives.
struct ArchEntry {
  const char* model_type;
  Arch arch;
  bool nested_text_config;  // dimensions under "text_config"
  const char* tensor_prefix;
};
constexpr ArchEntry kArchitectures[] = {
    {"qwen3_5_moe", Arch::kQwen3_5Moe, true, "model.language_model."},
    {"qwen3_5_moe_text", Arch::kQwen3_5Moe, false, "model."},
    {"qwen3_moe", Arch::kQwen3Moe, false, "model."},
};

// Keys that carry no meaning for inference of the text model (training knobs, ids, bookkeeping).
const std::set<std::string> kIgnoredKeys = {
    "architectures", "transformers_version", "dtype", "torch_dtype", "initializer_range",
    "use_cache", "output_router_logits", "router_aux_loss_coef", "bos_token_id", "pad_token_id",
    "attention_dropout", "max_position_embeddings", "max_window_layers", "model_type",
    "auto_map", "_name_or_path", "tie_word_embeddings", "eos_token_id", "quantization_config",
    "mtp_num_hidden_layers", "mtp_use_dedicated_embeddings", "mamba_ssm_dtype",
    "full_attention_interval", "layer_types", "sliding_window", "use_sliding_window",
    "rope_parameters", "rope_theta", "partial_rotary_factor", "rope_scaling", "attn_output_gate",
    "id2label", "label2id", "return_dict", "output_hidden_states", "output_attentions",
    "chunk_size_feed_forward", "problem_type", "is_encoder_decoder", "decoder_start_token_id",
    "add_cross_attention", "tokenizer_class", "prefix", "task_specific_params", "finetuning_task",
    "hidden_act", "attention_bias", "decoder_sparse_step", "mlp_only_layers", "norm_topk_prob",
    "head_dim", "num_experts", "num_local_experts", "num_experts_per_tok", "moe_intermediate_size",
    "shared_expert_intermediate_size", "intermediate_size", "linear_conv_kernel_dim",
    "linear_key_head_dim", "linear_value_head_dim", "linear_num_key_heads",
    "linear_num_value_heads", "vocab_size", "hidden_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "text_config",
    "vision_config", "image_token_id", "video_token_id", "vision_start_token_id",
    "vision_end_token_id", "vision_token_id", "position_id_per_seconds", "tie_word_embedding"};

class Reader {
 public:
  Reader(const json& object, std::string where) : j_(object), where_(std::move(where)) {}

  const json& at(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) fail("{}: missing key '{}'", where_, key);
    return *it;
  }
  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int64_t integer(const char* key) const {
    const json& v = at(key);
    if (!v.is_number_integer()) fail("{}: key '{}' must be an integer, got {}", where_, key, v.dump());
    if (v.get<int64_t>() < 0) fail("{}: key '{}' must be >= 0, got {}", where_, key, v.dump());
    return v.get<int64_t>();
  }
  int64_t integer_or(const char* key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }
  double number(const char* key) const {
    const json& v = at(key);
    if (!v.is_number()) fail("{}: key '{}' must be a number, got {}", where_, key, v.dump());
    return v.get<double>();
  }
  double number_or(const char* key, double fallback) const { return has(key) ? number(key) : fallback; }
  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = at(key);
    if (!v.is_boolean()) fail("{}: key '{}' must be true or false, got {}", where_, key, v.dump());
    return v.get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = at(key);
    if (!v.is_string()) fail("{}: key '{}' must be a string, got {}", where_, key, v.dump());
    return v.get<std::string>();
  }
  const json& raw() const { return j_; }
  const std::string& where() const { return where_; }

 private:
  const json& j_;
  std::string where_;
};

void reject_unknown_keys(const Reader& r) {
  for (auto it = r.raw().begin(); it != r.raw().end(); ++it)
    if (!kIgnoredKeys.count(it.key()))
      fail("{}: unknown key '{}' (streammoe does not know whether it changes the model)", r.where(),
           it.key());
}

void require_positive(const std::string& where, const char* name, int64_t value) {
  if (value <= 0) fail("{}: '{}' must be positive, got {}", where, name, value);
}

// Upper bounds on the dimensions config.json may give, checked before anything is sized by them:
// generous beside real models (which have about a hundred layers, hundreds of experts, hidden
// sizes up to 16384, vocabularies up to 256k) and small enough that a vector sized by one never fails to allocate.
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxWidth = int64_t{1} << 20;  // hidden and intermediate sizes
constexpr int64_t kMaxCount = int64_t{1} << 14;  // heads, head dims, experts
constexpr int64_t kMaxConvKernel = 1024;

void require_at_most(const std::string& where, const char* name, int64_t value, int64_t limit) {
  if (value > limit) fail("{}: '{}' is {}, more than this engine's limit of {}", where, name, value, limit);
}

// A float key that must be finite and > 0; written so that NaN fails.
void require_positive_finite(const std::string& where, const char* name, double value) {
  if (!(value > 0.0) || !std::isfinite(value)) fail("{}: '{}' must be a finite number > 0, got {}", where, name, value);
}

void read_rope(const Reader& r, ModelConfig& c) {
  double partial = r.number_or("partial_rotary_factor", 1.0);
  c.rope_theta = r.number_or("rope_theta", 10000.0);
  if (r.has("rope_scaling")) fail("{}: rope_scaling is not supported", r.where());
  if (r.has("rope_parameters")) {
    const json& p = r.at("rope_parameters");
    if (!p.is_object()) fail("{}: 'rope_parameters' must be an object", r.where());
    Reader rp(p, r.where() + " rope_parameters");
    std::string type = rp.string_or("rope_type", "default");
    if (type != "default") fail("{}: rope_type '{}' is not supported (only 'default')", rp.where(), type);
    c.rope_theta = rp.number_or("rope_theta", c.rope_theta);
    partial = rp.number_or("partial_rotary_factor", partial);
  }
  require_positive_finite(r.where(), "rope_theta", c.rope_theta);
  if (!(partial > 0.0 && partial <= 1.0))
    fail("{}: partial_rotary_factor must be in (0, 1], got {}", r.where(), partial);
  c.rotary_dim = static_cast<int64_t>(static_cast<double>(c.head_dim) * partial);
  if (c.rotary_dim % 2 != 0 || c.rotary_dim == 0)
    fail("{}: rotary dimension {} (head_dim {} x {}) must be even and positive", r.where(),
         c.rotary_dim, c.head_dim, partial);
}

void read_layer_types(const Reader& r, ModelConfig& c) {
  c.layer_types.assign(c.num_layers, LayerKind::kFullAttention);
  if (c.arch != Arch::kQwen3_5Moe) return;
  if (r.has("layer_types")) {
    const json& types = r.at("layer_types");
    if (!types.is_array() || static_cast<int64_t>(types.size()) != c.num_layers)
      fail("{}: 'layer_types' must list {} layers", r.where(), c.num_layers);
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const json& t = types[i];
      if (t == "linear_attention") c.layer_types[i] = LayerKind::kLinearAttention;
      else if (t == "full_attention") c.layer_types[i] = LayerKind::kFullAttention;
      else fail("{}: layer_types[{}] = {} (expected linear_attention or full_attention)", r.where(), i, t.dump());
    }
  } else {
    // transformers' default: every full_attention_interval-th layer is full attention.
    int64_t interval = r.integer_or("full_attention_interval", 4);
    require_positive(r.where(), "full_attention_interval", interval);
    for (int64_t i = 0; i < c.num_layers; ++i)
      c.layer_types[i] = (i + 1) % interval == 0 ? LayerKind::kFullAttention : LayerKind::kLinearAttention;
  }
}

void read_ffn_types(const Reader& r, ModelConfig& c) {
  c.ffn_types.assign(c.num_layers, FfnKind::kMoe);
  if (c.arch != Arch::kQwen3Moe) return;
  std::set<int64_t> dense;
  if (r.has("mlp_only_layers")) {
    const json& list = r.at("mlp_only_layers");
    if (!list.is_array()) fail("{}: 'mlp_only_layers' must be a list", r.where());
    for (const json& v : list) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= c.num_layers)
        fail("{}: mlp_only_layers entry {} is not a layer index", r.where(), v.dump());
      dense.insert(v.get<int64_t>());
    }
  }
  const int64_t step = r.integer_or("decoder_sparse_step", 1);
  require_positive(r.where(), "decoder_sparse_step", step);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const bool moe = !dense.count(i) && c.num_experts > 0 && (i + 1) % step == 0;
    c.ffn_types[i] = moe ? FfnKind::kMoe : FfnKind::kDense;
  }
}

// eos_token_id: one id or a list of ids, each a token of the vocabulary (an id outside it would
// never stop generation, silently).
std::vector<int32_t> read_eos(const json& j, int64_t vocab_size, const std::string& where) {
  std::vector<int32_t> ids;
  auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return ids;
  const auto add = [&](const json& v) {
    if (!v.is_number_integer())
      fail("{}: 'eos_token_id' must be a token id or a list of token ids, got {}", where, it->dump());
    if (v.is_number_unsigned() ? v.get<uint64_t>() >= static_cast<uint64_t>(vocab_size)
                               : (v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab_size))
      fail("{}: eos_token_id {} is outside the vocabulary [0, {})", where, v.dump(), vocab_size);
    ids.push_back(v.get<int32_t>());
  };
  if (it->is_array()) {
    for (const json& v : *it) add(v);
  } else {
    add(*it);
  }
  return ids;
}

}  // namespace

const char* arch_name(Arch arch) {
  return arch == Arch::kQwen3_5Moe ? "qwen3_5_moe" : "qwen3_moe";
}

int64_t ModelConfig::num_layers_of(LayerKind kind) const {
  int64_t n = 0;
  for (auto k : layer_types) n += k == kind;
  return n;
}

std::string ModelConfig::summary() const {
  return fmt::format(
      "{} ({}): {} layers ({} linear-attention, {} full-attention), hidden {}, vocab {}, {} experts "
      "top-{} of size {}, shared expert {}",
      arch_name(arch), model_type, num_layers, num_layers_of(LayerKind::kLinearAttention),
      num_layers_of(LayerKind::kFullAttention), hidden_size, vocab_size, num_experts,
      experts_per_tok, moe_intermediate_size, shared_expert_intermediate_size);
}

ModelConfig parse_config(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {  // a syntax error, or a number too large for a double
    fail("{}: malformed JSON: {}", source, e.what());
  }
  if (!root.is_object()) fail("{}: expected a JSON object", source);
  Reader top(root, source);
  const std::string model_type = top.string_or("model_type", "");
  if (model_type.empty()) fail("{}: missing key 'model_type'", source);
  const ArchEntry* entry = nullptr;
  for (const auto& a : kArchitectures)
    if (model_type == a.model_type) entry = &a;
  if (!entry)
    fail("{}: unknown model_type '{}' (supported: qwen3_5_moe, qwen3_5_moe_text, qwen3_moe)", source,
         model_type);

  ModelConfig c;
  c.arch = entry->arch;
  c.model_type = model_type;
  c.tensor_prefix = entry->tensor_prefix;
  const json* text = &root;
  std::string where = source;
  if (entry->nested_text_config) {
    if (!root.contains("text_config") || !root["text_config"].is_object())
      fail("{}: model_type {} needs an object 'text_config'", source, model_type);
    text = &root["text_config"];
    where = source + " text_config";
  }
  Reader r(*text, where);
  if (text != &root) {
    const std::string inner = r.string_or("model_type", "qwen3_5_moe_text");
    if (inner != "qwen3_5_moe_text") fail("{}: unexpected model_type '{}'", where, inner);
  }
  reject_unknown_keys(r);

  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.num_layers = r.integer("num_hidden_layers");
  c.num_heads = r.integer("num_attention_heads");
  c.num_kv_heads = r.integer_or("num_key_value_heads", c.num_heads);
  require_positive(where, "vocab_size", c.vocab_size);
  require_positive(where, "hidden_size", c.hidden_size);
  require_positive(where, "num_hidden_layers", c.num_layers);
  require_positive(where, "num_attention_heads", c.num_heads);
  require_positive(where, "num_key_value_heads", c.num_kv_heads);
  require_at_most(where, "vocab_size", c.vocab_size, kMaxVocab);
  require_at_most(where, "hidden_size", c.hidden_size, kMaxWidth);
  require_at_most(where, "num_hidden_layers", c.num_layers, kMaxLayers);
  require_at_most(where, "num_attention_heads", c.num_heads, kMaxCount);
  if (c.num_heads % c.num_kv_heads != 0)
    fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", where, c.num_heads,
         c.num_kv_heads);
  c.head_dim = r.integer_or("head_dim", c.hidden_size / c.num_heads);
  require_positive(where, "head_dim", c.head_dim);
  require_at_most(where, "head_dim", c.head_dim, kMaxCount);
  c.rms_norm_eps = r.number_or("rms_norm_eps", 1e-6);
  require_positive_finite(where, "rms_norm_eps", c.rms_norm_eps);
  c.tie_word_embeddings = top.boolean_or("tie_word_embeddings", r.boolean_or("tie_word_embeddings", false));
  if (r.string_or("hidden_act", "silu") != "silu")
    fail("{}: hidden_act '{}' is not supported (only silu)", where, r.string_or("hidden_act", ""));
  if (r.boolean_or("attention_bias", false)) fail("{}: attention_bias=true is not supported", where);
  if (r.boolean_or("use_sliding_window", false)) fail("{}: use_sliding_window=true is not supported", where);
  read_rope(r, c);

  c.num_experts = r.has("num_experts") ? r.integer("num_experts") : r.integer_or("num_local_experts", 0);
  c.experts_per_tok = r.integer_or("num_experts_per_tok", 0);
  c.moe_intermediate_size = r.integer_or("moe_intermediate_size", 0);
  c.intermediate_size = r.integer_or("intermediate_size", 0);

  if (c.arch == Arch::kQwen3_5Moe) {
    c.norm_one_plus_weight = true;
    c.attn_output_gate = r.boolean_or("attn_output_gate", true);
    c.norm_topk_prob = true;
    c.shared_expert_intermediate_size = r.integer("shared_expert_intermediate_size");
    c.lin_num_k_heads = r.integer("linear_num_key_heads");
    c.lin_num_v_heads = r.integer("linear_num_value_heads");
    c.lin_k_head_dim = r.integer("linear_key_head_dim");
    c.lin_v_head_dim = r.integer("linear_value_head_dim");
    c.lin_conv_kernel = r.integer_or("linear_conv_kernel_dim", 4);
    require_positive(where, "linear_num_key_heads", c.lin_num_k_heads);
    require_positive(where, "linear_num_value_heads", c.lin_num_v_heads);
    require_positive(where, "linear_key_head_dim", c.lin_k_head_dim);
    require_positive(where, "linear_value_head_dim", c.lin_v_head_dim);
    require_positive(where, "linear_conv_kernel_dim", c.lin_conv_kernel);
    require_at_most(where, "linear_num_key_heads", c.lin_num_k_heads, kMaxCount);
    require_at_most(where, "linear_num_value_heads", c.lin_num_v_heads, kMaxCount);
    require_at_most(where, "linear_key_head_dim", c.lin_k_head_dim, kMaxCount);
    require_at_most(where, "linear_value_head_dim", c.lin_v_head_dim, kMaxCount);
    require_at_most(where, "linear_conv_kernel_dim", c.lin_conv_kernel, kMaxConvKernel);
    require_at_most(where, "shared_expert_intermediate_size", c.shared_expert_intermediate_size, kMaxWidth);
    if (c.lin_num_v_heads % c.lin_num_k_heads != 0)
      fail("{}: linear_num_value_heads {} is not a multiple of linear_num_key_heads {}", where,
           c.lin_num_v_heads, c.lin_num_k_heads);
  } else {
    c.norm_topk_prob = r.boolean_or("norm_topk_prob", false);
  }
  require_positive(where, "num_experts", c.num_experts);
  require_positive(where, "num_experts_per_tok", c.experts_per_tok);
  require_positive(where, "moe_intermediate_size", c.moe_intermediate_size);
  require_at_most(where, "num_experts", c.num_experts, kMaxCount);
  require_at_most(where, "moe_intermediate_size", c.moe_intermediate_size, kMaxWidth);
  require_at_most(where, "intermediate_size", c.intermediate_size, kMaxWidth);
  if (c.experts_per_tok > c.num_experts)
    fail("{}: num_experts_per_tok {} exceeds num_experts {}", where, c.experts_per_tok, c.num_experts);
  read_layer_types(r, c);
  read_ffn_types(r, c);
  for (auto f : c.ffn_types)
    if (f == FfnKind::kDense) require_positive(where, "intermediate_size", c.intermediate_size);
  c.max_position_embeddings = r.integer_or("max_position_embeddings", 0);
  c.eos_token_ids = read_eos(*text, c.vocab_size, where);
  if (c.eos_token_ids.empty()) c.eos_token_ids = read_eos(root, c.vocab_size, source);
  return c;
}

ModelConfig load_config(const std::filesystem::path& folder) {
  const auto path = folder / "config.json";
  std::ifstream in(path);
  if (!in) fail("{}: cannot open (is {} a model folder?)", path.string(), folder.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  ModelConfig c = parse_config(buffer.str(), path.string());
  const auto gen_path = folder / "generation_config.json";
  if (std::filesystem::exists(gen_path)) {
    std::ifstream gen(gen_path);
    std::stringstream gen_buffer;
    gen_buffer << gen.rdbuf();
    try {
      auto gen_ids = read_eos(json::parse(gen_buffer.str()), c.vocab_size, gen_path.string());
      if (!gen_ids.empty()) c.eos_token_ids = gen_ids;
    } catch (const json::exception& e) {
      fail("{}: malformed JSON: {}", gen_path.string(), e.what());
    }
  }
  return c;
}

}  // namespace streammoe
