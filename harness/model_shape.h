#pragma once
// The routing shape of a model the lab has not loaded (it may not even be made yet): its layers,
// their attention types, which of them hold a routed MoE block, its experts and top-K. Read with
// the engine's own config parser, so the lab and the engine agree on every default (layer types
// from full_attention_interval, MoE layers from mlp_only_layers / decoder_sparse_step).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/model/config.h"

namespace streammoe::lab {

struct ModelShape {
  int64_t layers = 0;
  int64_t experts = 0;
  int64_t top_k = 0;
  int64_t vocab = 0;
  int64_t hidden = 0;
  bool tied_embeddings = false;
  std::vector<LayerKind> layer_types;  // per layer
  std::vector<bool> moe;               // per layer: a routed MoE block (else a dense MLP)
  std::string source;                  // the config it was read from, for messages

  std::vector<int64_t> moe_layers() const;
};

// "linear_attention" | "full_attention"
const char* layer_kind_name(LayerKind kind);

// The shape of the model `config_json` describes (a config.json, nested text_config or not);
// with `layers` > 0 cut to its first `layers` layers as `streammoe synth --layers` cuts it
// (layer_types trimmed, mlp_only_layers beyond the depth dropped). Error naming the file when
// the engine would refuse the config.
ModelShape read_model_shape(const std::filesystem::path& config_json, int64_t layers = 0);

}  // namespace streammoe::lab
