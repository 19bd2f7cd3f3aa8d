#include "harness/model_shape.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/util/error.h"

namespace streammoe::lab {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<int64_t> ModelShape::moe_layers() const {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < layers; ++i)
    if (moe[static_cast<size_t>(i)]) out.push_back(i);
  return out;
}

const char* layer_kind_name(LayerKind kind) {
  return kind == LayerKind::kLinearAttention ? "linear_attention" : "full_attention";
}

ModelShape read_model_shape(const fs::path& config_json, int64_t layers) {
  std::ifstream in(config_json);
  if (!in) fail("{}: cannot open model config", config_json.string());
  std::stringstream text;
  text << in.rdbuf();
  std::string config_text = text.str();
  std::string source = config_json.string();
  if (layers > 0) {
    // What `streammoe synth --layers N` writes (engine/convert/synth.cpp, synth_config): the
    // same config with num_hidden_layers N, layer_types cut to N, mlp_only_layers below N.
    json config = json::parse(config_text, nullptr, false);
    if (!config.is_object()) fail("{}: malformed JSON", source);
    json& t = config.contains("text_config") && config["text_config"].is_object() ? config["text_config"] : config;
    t["num_hidden_layers"] = layers;
    if (t.contains("layer_types") && t["layer_types"].is_array()) {
      json& types = t["layer_types"];
      if (static_cast<int64_t>(types.size()) < layers)
        fail("{}: {} layers asked for, layer_types lists only {}", source, layers, types.size());
      types.erase(types.begin() + layers, types.end());
    }
    if (t.contains("mlp_only_layers") && t["mlp_only_layers"].is_array()) {
      json kept = json::array();
      for (const json& v : t["mlp_only_layers"])
        if (v.is_number_integer() && v.get<int64_t>() < layers) kept.push_back(v);
      t["mlp_only_layers"] = kept;
    }
    config_text = config.dump();
    source = fmt::format("{} cut to {} layers", source, layers);
  }
  const ModelConfig c = parse_config(config_text, source);
  ModelShape shape;
  shape.layers = c.num_layers;
  shape.experts = c.num_experts;
  shape.top_k = c.experts_per_tok;
  shape.vocab = c.vocab_size;
  shape.hidden = c.hidden_size;
  shape.tied_embeddings = c.tie_word_embeddings;
  shape.layer_types = c.layer_types;
  for (FfnKind f : c.ffn_types) shape.moe.push_back(f == FfnKind::kMoe);
  shape.source = source;
  return shape;
}

}  // namespace streammoe::lab
