#include "engine/convert/synth.h"

#include <cmath>
#include <cstring>
#include <fstream>

#include "engine/convert/counter_random.h"
#include "engine/convert/safetensors_stream.h"
#include "engine/models/tensor_table.h"
#include "engine/ops/quant.h"
#include "engine/util/error.h"
#include "engine/util/output_file.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json& text_config(json& config) {
  return config.contains("text_config") ? config["text_config"] : config;
}

uint64_t name_hash(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// How one tensor's values are drawn.
struct InitRule {
  enum Kind { kNormal, kALog, kRowScaled } kind = kNormal;
  float mean = 0.0f;
  float std = 0.0f;
};

InitRule init_rule(TensorRole role, const std::vector<int64_t>& shape, const ModelConfig& c) {
  using R = TensorRole;
  const float in = static_cast<float>(shape.back());
  switch (role) {
    case R::kLinearALog: return {InitRule::kALog};
    case R::kLinearDtBias: return {InitRule::kNormal, 0.0f, 0.5f};
    case R::kLinearConv1d: return {InitRule::kNormal, 0.0f, 1.0f / std::sqrt(in)};
    case R::kFinalNorm:
    case R::kInputNorm:
    case R::kPostAttentionNorm:
    case R::kQNorm:
    case R::kKNorm:
    case R::kLinearNorm: {
      // Qwen3.5's RMSNorm scales by (1 + w); its gated DeltaNet norm and Qwen3's scale by w.
      const bool one_plus = c.norm_one_plus_weight && role != R::kLinearNorm;
      return {InitRule::kNormal, one_plus ? 0.0f : 1.0f, 0.1f};
    }
    case R::kEmbed: return {InitRule::kNormal, 0.0f, 1.0f};
    case R::kLmHead: return {InitRule::kRowScaled, 0.0f, 2.0f / std::sqrt(in)};
    case R::kRouter: return {InitRule::kNormal, 0.0f, 2.0f / std::sqrt(in)};
    case R::kOProj:
    case R::kLinearOutProj:
    case R::kMlpDown:
    case R::kSharedDown:
    case R::kExpertDown:
    case R::kExpertsDown:  // writes the residual stream
      return {InitRule::kNormal, 0.0f, 0.5f / std::sqrt(in)};
    default:
      if (shape.size() == 1) return {InitRule::kNormal, 0.0f, 0.1f};
      return {InitRule::kNormal, 0.0f, 1.0f / std::sqrt(in)};
  }
}

float draw(const InitRule& rule, uint64_t stream, uint64_t index, int64_t cols) {
  const uint64_t bits = random_bits(stream, index);
  switch (rule.kind) {
    case InitRule::kALog:
      return std::log(0.05f + 1.45f * uniform01(bits));
    case InitRule::kRowScaled: {
      // Log-normal spread of row norms: some tokens are much more likely, so top-1 is clear.
      const uint64_t row = index / static_cast<uint64_t>(cols);
      const float row_scale = std::exp(0.8f * approx_normal(random_bits(~stream, row)));
      return rule.std * row_scale * approx_normal(bits);
    }
    case InitRule::kNormal:
      break;
  }
  return rule.mean + rule.std * approx_normal(bits);
}

StreamedTensor random_tensor(const std::string& name, TensorRole role, std::vector<int64_t> shape,
                             DType dtype, const ModelConfig& c, uint64_t seed) {
  const InitRule rule = init_rule(role, shape, c);
  const uint64_t stream = stream_seed(seed, name_hash(name));
  const int64_t cols = shape.back();
  const size_t element = dtype_size(dtype);
  return {name, dtype, std::move(shape), [=](uint64_t offset, std::span<std::byte> out) {
            thread_local std::vector<float> values;
            const uint64_t first = offset / element;
            values.resize(out.size() / element);
            for (size_t i = 0; i < values.size(); ++i)
              values[i] = draw(rule, stream, first + i, cols);
            for (size_t i = 0; i < values.size(); ++i) {
              if (dtype == DType::kF32) {
                std::memcpy(out.data() + 4 * i, &values[i], 4);
              } else {
                const uint16_t v =
                    dtype == DType::kBF16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
                std::memcpy(out.data() + 2 * i, &v, 2);
              }
            }
          }};
}

std::vector<StreamedTensor> random_resident_tensors(const ModelConfig& c, const SynthOptions& o) {
  std::vector<StreamedTensor> out;
  for (NamedTensor& t : ModelTensors(c).resident())
    out.push_back(random_tensor(t.name, t.role, std::move(t.shape), o.dtype, c, o.seed));
  return out;
}

class SynthInput final : public ModelInput {
 public:
  SynthInput(const json& config, const SynthOptions& options, std::string source)
      : config_json_(config),
        config_(parse_config(config.dump(), source)),
        options_(options),
        source_(std::move(source)) {}

  std::string kind() const override { return "synth"; }
  std::string source() const override { return source_; }
  const json& config_json() const override { return config_json_; }
  const ModelConfig& config() const override { return config_; }

  std::vector<StreamedTensor> resident_tensors() const override {
    return random_resident_tensors(config_, options_);
  }

  void write_packed_expert(int64_t layer, int64_t expert, const ExpertLayout& layout,
                           std::span<std::byte> record) const override {
    const int levels = (1 << layout.bits) - 1;
    // Codes uniform on [0, levels]: std = scale * sqrt(((levels+1)^2 - 1) / 12), mean 0 with
    // bias = -scale * levels / 2.
    const double code_std = std::sqrt((std::pow(levels + 1.0, 2) - 1.0) / 12.0);
    int which = 0;
    for (const PackedMatrix* m : {&layout.gate, &layout.up, &layout.down}) {
      const double target =
          (m == &layout.down ? 0.5 : 1.0) / std::sqrt(static_cast<double>(m->cols));
      const uint16_t scale = f32_to_bf16(static_cast<float>(target / code_std));
      const uint16_t bias = f32_to_bf16(-bf16_to_f32(scale) * levels / 2.0f);
      const uint64_t stream = stream_seed(options_.seed, layer, expert, which++);
      auto* words = reinterpret_cast<uint32_t*>(record.data() + m->q.offset);
      const uint64_t n_words = m->q.bytes / 4;
      for (uint64_t i = 0; i < n_words; i += 2) {
        const uint64_t bits = random_bits(stream, i / 2);
        words[i] = static_cast<uint32_t>(bits);
        if (i + 1 < n_words) words[i + 1] = static_cast<uint32_t>(bits >> 32);
      }
      auto* scales = reinterpret_cast<uint16_t*>(record.data() + m->scales.offset);
      auto* biases = reinterpret_cast<uint16_t*>(record.data() + m->biases.offset);
      std::fill(scales, scales + m->scales.bytes / 2, scale);
      std::fill(biases, biases + m->biases.bytes / 2, bias);
    }
  }

 private:
  json config_json_;
  ModelConfig config_;
  SynthOptions options_;
  std::string source_;
};

}  // namespace

json synth_config(const json& like, const SynthOptions& options, const std::string& where) {
  json config = like;
  json& text = text_config(config);
  if (options.layers > 0) {
    text["num_hidden_layers"] = options.layers;
    if (text.contains("layer_types") && text["layer_types"].is_array()) {
      json& types = text["layer_types"];
      if (static_cast<int64_t>(types.size()) < options.layers)
        fail("{}: {} layers asked for, layer_types lists only {}", where, options.layers,
             types.size());
      types.erase(types.begin() + options.layers, types.end());
    }
    if (text.contains("mlp_only_layers") && text["mlp_only_layers"].is_array()) {
      json kept = json::array();
      for (const json& v : text["mlp_only_layers"])
        if (v.is_number_integer() && v.get<int64_t>() < options.layers) kept.push_back(v);
      text["mlp_only_layers"] = kept;
    }
  }
  if (options.vocab > 0) text["vocab_size"] = options.vocab;
  parse_config(config.dump(), where);  // the result must be a model the engine runs
  return config;
}

std::unique_ptr<ModelInput> make_synth_input(const json& config, const SynthOptions& options,
                                             const std::string& source) {
  return std::make_unique<SynthInput>(config, options, source);
}

void write_synth_hf(const json& config_json, const SynthOptions& options, const fs::path& out,
                    HfExpertLayout layout) {
  const ModelConfig c = parse_config(config_json.dump(), out.string() + "/config.json");
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail("{}: cannot create: {}", out.string(), ec.message());
  std::vector<StreamedTensor> tensors = random_resident_tensors(c, options);
  const ModelTensors names(c);
  auto add = [&](TensorRole role, int64_t layer, int64_t expert) {
    tensors.push_back(random_tensor(names.name(role, layer, expert), role, names.shape(role),
                                    options.dtype, c, options.seed));
  };
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (c.ffn_types[l] != FfnKind::kMoe) continue;
    if (layout == HfExpertLayout::kFused) {
      add(TensorRole::kExpertsGateUp, l, 0);
      add(TensorRole::kExpertsDown, l, 0);
      continue;
    }
    for (int64_t e = 0; e < c.num_experts; ++e)
      for (TensorRole role :
           {TensorRole::kExpertGate, TensorRole::kExpertUp, TensorRole::kExpertDown})
        add(role, l, e);
  }
  write_safetensors_streamed(out / "model.safetensors", tensors, {{"format", "pt"}});
  write_file(out / "config.json", config_json.dump(2) + "\n");
}

}  // namespace streammoe
