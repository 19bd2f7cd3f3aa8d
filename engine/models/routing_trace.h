#pragma once
// Routing traces: (token, layer, expert ids, weights), one JSON object per line, after a header
// line {"routing_trace": 1, "layers": L, "experts": E, "top_k": K, "model": "..."}.
// --record-routing writes one; --replay-routing makes a model (typically a synth model at real
// scale) follow a recorded one, so I/O studies see a trained model's routing statistics.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/blocks/moe_ffn.h"
#include "engine/model/config.h"
#include "engine/util/output_file.h"

namespace streammoe {

class RoutingTraceWriter {
 public:
  RoutingTraceWriter(const std::filesystem::path& path, const ModelConfig& config, const std::string& model);
  void add_token(int64_t token_index, const std::vector<Routing>& per_layer);
  // Writes what is buffered and closes; an Error naming the file if any write failed.
  void close();

 private:
  void write_header(int64_t top_k);

  OutputFile out_;
  ModelConfig config_;
  std::string model_;
  int64_t top_k_ = 0;  // written in the header with the first token: --k may differ from the config's
};

class RoutingTrace {
 public:
  // Refuses, naming the file and line, anything a recorder would not write: tokens out of order,
  // a (token, layer) twice, expert ids outside [0, experts), repeated experts in one token, more
  // experts per token than the header's top_k.
  static RoutingTrace load(const std::filesystem::path& path);
  int64_t tokens() const { return static_cast<int64_t>(steps_.size()); }
  int64_t layers() const { return layers_; }
  int64_t experts() const { return experts_; }
  int64_t top_k() const { return top_k_; }
  const std::string& source() const { return source_; }
  // Routing of `layer` at token `index`; an Error naming the trace when the run has gone past its
  // last token, or the trace recorded nothing for that layer there.
  const Routing& at(int64_t index, int64_t layer) const;
  // Errors naming the trace when it cannot drive this model (too few layers, expert ids too large).
  void check_fits(const ModelConfig& config) const;

 private:
  std::string source_;
  int64_t layers_ = 0, experts_ = 0, top_k_ = 0;
  std::vector<std::vector<Routing>> steps_;  // [token][layer]
};

}  // namespace streammoe
