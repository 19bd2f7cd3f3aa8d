#pragma once
// Routing traces: (token, layer, expert ids, weights), one JSON object per line, after a header
// line {"routing_trace": 1, "layers": L, "experts": E, "top_k": K, "model": "..."}.
// --record-routing writes one; --replay-routing makes a model (typically a synth model at real
// scale) follow a recorded one, so I/O studies see a trained model's routing statistics.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/blocks/moe_ffn.h"
#include "engine/model/config.h"

namespace streammoe {

class RoutingTraceWriter {
 public:
  RoutingTraceWriter(const std::filesystem::path& path, const ModelConfig& config, const std::string& model);
  void add_token(int64_t token_index, const std::vector<Routing>& per_layer);

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

class RoutingTrace {
 public:
  static RoutingTrace load(const std::filesystem::path& path);
  int64_t tokens() const { return static_cast<int64_t>(steps_.size()); }
  int64_t layers() const { return layers_; }
  int64_t experts() const { return experts_; }
  // Routing of `layer` at token `index` (wrapping around the trace); empty if not recorded.
  const Routing& at(int64_t index, int64_t layer) const;
  // Errors naming the trace when it cannot drive this model (too few layers, expert ids too large).
  void check_fits(const ModelConfig& config) const;

 private:
  std::string source_;
  int64_t layers_ = 0, experts_ = 0;
  std::vector<std::vector<Routing>> steps_;  // [token][layer]
};

}  // namespace streammoe
