#include "engine/models/routing_trace.h"

#include <nlohmann/json.hpp>

#include "engine/util/error.h"

namespace streammoe {

RoutingTraceWriter::RoutingTraceWriter(const std::filesystem::path& path, const ModelConfig& c,
                                       const std::string& model)
    : path_(path), out_(path) {
  if (!out_) fail("{}: cannot open for writing", path.string());
  out_ << nlohmann::json{{"routing_trace", 1}, {"layers", c.num_layers}, {"experts", c.num_experts},
                         {"top_k", c.experts_per_tok}, {"model", model}}.dump()
       << "\n";
}

void RoutingTraceWriter::add_token(int64_t token_index, const std::vector<Routing>& per_layer) {
  for (size_t layer = 0; layer < per_layer.size(); ++layer) {
    if (per_layer[layer].experts.empty()) continue;
    out_ << nlohmann::json{{"t", token_index}, {"layer", layer}, {"experts", per_layer[layer].experts},
                           {"weights", per_layer[layer].weights}}.dump()
         << "\n";
  }
  if (!out_) fail("{}: write failed", path_.string());
}

RoutingTrace RoutingTrace::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open routing trace", path.string());
  RoutingTrace trace;
  trace.source_ = path.string();
  std::string line;
  int64_t line_no = 0;
  try {
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      if (line_no == 1) {
        if (!j.contains("routing_trace")) fail("{}:1: not a routing trace (no header line)", trace.source_);
        trace.layers_ = j.at("layers").get<int64_t>();
        trace.experts_ = j.at("experts").get<int64_t>();
        continue;
      }
      const int64_t t = j.at("t").get<int64_t>(), layer = j.at("layer").get<int64_t>();
      if (t < 0 || layer < 0 || layer >= trace.layers_)
        fail("{}:{}: token {} / layer {} out of range", trace.source_, line_no, t, layer);
      if (t >= static_cast<int64_t>(trace.steps_.size())) trace.steps_.resize(t + 1, std::vector<Routing>(trace.layers_));
      Routing& r = trace.steps_[t][layer];
      r.experts = j.at("experts").get<std::vector<int32_t>>();
      r.weights = j.at("weights").get<std::vector<float>>();
      if (r.experts.size() != r.weights.size() || r.experts.empty())
        fail("{}:{}: experts and weights must be non-empty lists of equal length", trace.source_, line_no);
      for (int32_t e : r.experts)
        if (e < 0 || e >= trace.experts_) fail("{}:{}: expert {} out of range", trace.source_, line_no, e);
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}:{}: {}", trace.source_, line_no, e.what());
  }
  if (trace.steps_.empty()) fail("{}: routing trace has no tokens", trace.source_);
  return trace;
}

const Routing& RoutingTrace::at(int64_t index, int64_t layer) const {
  return steps_[index % static_cast<int64_t>(steps_.size())][layer];
}

void RoutingTrace::check_fits(const ModelConfig& c) const {
  if (layers_ < c.num_layers)
    fail("{}: trace has {} layers, the model {} (replay needs at least as many)", source_, layers_, c.num_layers);
  if (experts_ > c.num_experts)
    fail("{}: trace routes over {} experts, the model has only {}", source_, experts_, c.num_experts);
}

}  // namespace streammoe
