#include "engine/models/routing_trace.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/util/error.h"

namespace streammoe {
namespace {

using nlohmann::json;

// Bounds on a trace header, checked before anything is sized by it.
constexpr int64_t kMaxTraceLayers = 4096;
constexpr int64_t kMaxTraceExperts = int64_t{1} << 16;

// One line of a trace, read with its position for messages.
class Line {
 public:
  Line(const json& j, const std::string& source, int64_t line_no) : j_(j), source_(source), line_no_(line_no) {}

  const json& at(const char* key) const {
    if (!j_.is_object()) fail("{}:{}: expected a JSON object", source_, line_no_);
    auto it = j_.find(key);
    if (it == j_.end()) fail("{}:{}: missing key '{}'", source_, line_no_, key);
    return *it;
  }
  // An integer in [lo, hi], read as written: 2^31 is 2^31, not a wrapped int32.
  int64_t integer(const json& v, const char* what, int64_t lo, int64_t hi) const {
    // nlohmann reads every non-negative integer as unsigned: that branch checks `lo` too (a header's
    // "layers": 0 passed here and sized each token's routing at zero layers; found by fuzzing).
    const bool fits = v.is_number_integer() &&
                      (v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                                    (lo <= 0 || v.get<uint64_t>() >= static_cast<uint64_t>(lo))
                                              : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi);
    if (!fits) fail("{}:{}: {} {} out of range [{}, {}]", source_, line_no_, what, v.dump(), lo, hi);
    return v.get<int64_t>();
  }
  int64_t integer(const char* key, int64_t lo, int64_t hi) const { return integer(at(key), key, lo, hi); }
  const json& list(const char* key) const {
    const json& v = at(key);
    if (!v.is_array()) fail("{}:{}: '{}' must be a list, got {}", source_, line_no_, key, v.dump());
    return v;
  }
  [[noreturn]] void error(const std::string& problem) const { fail("{}:{}: {}", source_, line_no_, problem); }

 private:
  const json& j_;
  const std::string& source_;
  int64_t line_no_;
};

Routing read_routing(const Line& line, int64_t experts, int64_t top_k, int64_t t, int64_t layer) {
  const json& ids = line.list("experts");
  const json& weights = line.list("weights");
  if (ids.empty() || ids.size() != weights.size())
    line.error("experts and weights must be non-empty lists of equal length");
  if (static_cast<int64_t>(ids.size()) > top_k)
    line.error(fmt::format("token {} layer {} routes to {} experts, more than the header's top_k {}", t, layer,
                           ids.size(), top_k));
  Routing r;
  for (const json& id : ids) r.experts.push_back(static_cast<int32_t>(line.integer(id, "expert", 0, experts - 1)));
  for (const json& w : weights) {
    if (!w.is_number()) line.error(fmt::format("weight {} is not a number", w.dump()));
    r.weights.push_back(w.get<float>());
    if (!std::isfinite(r.weights.back())) line.error(fmt::format("weight {} is not a finite float", w.dump()));
  }
  std::vector<int32_t> sorted = r.experts;
  std::sort(sorted.begin(), sorted.end());
  if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end())
    line.error(fmt::format("token {} layer {} lists expert {} twice", t, layer, *dup));
  return r;
}

}  // namespace

RoutingTraceWriter::RoutingTraceWriter(const std::filesystem::path& path, const ModelConfig& c,
                                       const std::string& model)
    : out_(path), config_(c), model_(model) {}

void RoutingTraceWriter::write_header(int64_t top_k) {
  top_k_ = top_k;
  out_.write(json{{"routing_trace", 1}, {"layers", config_.num_layers}, {"experts", config_.num_experts},
                  {"top_k", top_k_}, {"model", model_}}.dump() +
             "\n");
}

void RoutingTraceWriter::add_token(int64_t token_index, const std::vector<Routing>& per_layer) {
  if (top_k_ == 0) {
    // The run's K (--k may differ from the config's), which a replay's --k may cut but not exceed.
    size_t widest = 0;
    for (const Routing& r : per_layer) widest = std::max(widest, r.experts.size());
    write_header(widest ? static_cast<int64_t>(widest) : config_.experts_per_tok);
  }
  for (size_t layer = 0; layer < per_layer.size(); ++layer) {
    const Routing& r = per_layer[layer];
    if (r.experts.empty()) continue;
    if (static_cast<int64_t>(r.experts.size()) > top_k_)
      fail("{}: token {} layer {} routes to {} experts, more than the {} of the trace's first token",
           out_.path().string(), token_index, layer, r.experts.size(), top_k_);
    out_.write(json{{"t", token_index}, {"layer", layer}, {"experts", r.experts}, {"weights", r.weights}}.dump() +
               "\n");
  }
  // One write per token: a run that ends without close() (an error elsewhere) keeps its trace.
  out_.flush();
}

void RoutingTraceWriter::close() {
  if (top_k_ == 0) write_header(config_.experts_per_tok);
  out_.close();
}

RoutingTrace RoutingTrace::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open routing trace", path.string());
  RoutingTrace trace;
  trace.source_ = path.string();
  std::string text;
  int64_t line_no = 0;
  bool header = false;
  try {
    while (std::getline(in, text)) {
      ++line_no;
      if (text.empty()) continue;
      const json j = json::parse(text);
      const Line line(j, trace.source_, line_no);
      if (!header) {
        if (!j.is_object() || !j.contains("routing_trace"))
          fail("{}:{}: not a routing trace (no header line)", trace.source_, line_no);
        header = true;
        trace.layers_ = line.integer("layers", 1, kMaxTraceLayers);
        trace.experts_ = line.integer("experts", 1, kMaxTraceExperts);
        trace.top_k_ = line.integer("top_k", 1, trace.experts_);
        continue;
      }
      // Tokens come in order, as the recorder writes them: a token number is never more than one
      // past the last, so nothing is sized by a number the file merely states.
      const int64_t t = line.integer("t", 0, trace.tokens());
      const int64_t layer = line.integer("layer", 0, trace.layers_ - 1);
      if (t == trace.tokens()) trace.steps_.emplace_back(trace.layers_);
      Routing& r = trace.steps_[t][layer];
      if (!r.experts.empty()) line.error(fmt::format("token {} layer {} appears twice", t, layer));
      r = read_routing(line, trace.experts_, trace.top_k_, t, layer);
    }
  } catch (const json::exception& e) {
    fail("{}:{}: {}", trace.source_, line_no, e.what());
  }
  if (!header) fail("{}: empty file, not a routing trace", trace.source_);
  if (trace.steps_.empty()) fail("{}: routing trace has no tokens", trace.source_);
  return trace;
}

const Routing& RoutingTrace::at(int64_t index, int64_t layer) const {
  if (index < 0 || index >= tokens())
    fail("{}: the run reached token {}, but the trace holds only {} tokens (record a trace of at least as many "
         "tokens as the run)",
         source_, index, tokens());
  if (layer < 0 || layer >= layers_) fail("{}: layer {} is outside the trace's {} layers", source_, layer, layers_);
  const Routing& r = steps_[index][layer];
  if (r.experts.empty())
    fail("{}: no routing recorded for token {} at layer {} (a truncated trace, or one from a model with other MoE "
         "layers)",
         source_, index, layer);
  return r;
}

void RoutingTrace::check_fits(const ModelConfig& c) const {
  if (layers_ < c.num_layers)
    fail("{}: trace has {} layers, the model {} (replay needs at least as many)", source_, layers_, c.num_layers);
  if (experts_ > c.num_experts)
    fail("{}: trace routes over {} experts, the model has only {}", source_, experts_, c.num_experts);
}

}  // namespace streammoe
