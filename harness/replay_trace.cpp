#include "harness/replay_trace.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/util/error.h"
#include "harness/hash.h"
#include "harness/scratch_file.h"

namespace streammoe::lab {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The bounds the engine's trace reader holds a header to (engine/models/routing_trace.cpp).
constexpr int64_t kMaxTraceLayers = 4096;
constexpr int64_t kMaxTraceExperts = int64_t{1} << 16;

struct Record {
  std::vector<int32_t> experts;
  std::vector<float> weights;
};

// One line's integer field in [lo, hi], or an Error at file:line.
int64_t field(const json& j, const char* key, int64_t lo, int64_t hi, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) fail("{}: missing key '{}'", where, key);
  const bool fits = it->is_number_integer() &&
                    (it->is_number_unsigned() ? it->get<uint64_t>() <= static_cast<uint64_t>(hi)
                                              : it->get<int64_t>() >= lo && it->get<int64_t>() <= hi);
  if (!fits) fail("{}: {} {} out of range [{}, {}]", where, key, it->dump(), lo, hi);
  return it->get<int64_t>();
}

// Reads a trace as the engine's recorder writes it, checking what the engine's reader checks,
// and hands each record to `sink` (may be empty). Every token must record the same layers.
TraceSummary read_trace(const fs::path& path,
                        const std::function<void(int64_t t, int64_t layer, Record&&)>& sink) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open routing trace", path.string());
  TraceSummary s;
  StableHash hash;
  std::string text;
  int64_t line_no = 0;
  bool header = false;
  std::set<int64_t> token_layers, first_layers;
  auto close_token = [&](int64_t t) {
    if (t == 0) {
      first_layers = token_layers;
    } else if (token_layers != first_layers) {
      fail("{}: token {} records layers [{}], token 0 [{}] (a truncated trace, or one with gaps)",
           path.string(), t, fmt::join(token_layers, ","), fmt::join(first_layers, ","));
    }
    token_layers.clear();
  };
  while (std::getline(in, text)) {
    ++line_no;
    hash.add(text);
    if (text.empty()) continue;
    const std::string where = fmt::format("{}:{}", path.string(), line_no);
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) fail("{}: not a JSON object", where);
    if (!header) {
      if (!j.contains("routing_trace")) fail("{}: not a routing trace (no header line)", where);
      header = true;
      s.layers = field(j, "layers", 1, kMaxTraceLayers, where);
      s.experts = field(j, "experts", 1, kMaxTraceExperts, where);
      s.top_k = field(j, "top_k", 1, s.experts, where);
      if (j.contains("model") && j["model"].is_string()) s.model = j["model"].get<std::string>();
      continue;
    }
    const int64_t t = field(j, "t", 0, s.tokens, where);  // never more than one past the last
    const int64_t layer = field(j, "layer", 0, s.layers - 1, where);
    if (t == s.tokens) {
      if (t > 0) close_token(t - 1);
      ++s.tokens;
    } else if (t != s.tokens - 1) {
      fail("{}: token {} after token {} (tokens must come in order)", where, t, s.tokens - 1);
    }
    if (!token_layers.insert(layer).second)
      fail("{}: token {} layer {} appears twice", where, t, layer);
    const json* ids = j.contains("experts") ? &j["experts"] : nullptr;
    const json* weights = j.contains("weights") ? &j["weights"] : nullptr;
    if (!ids || !weights || !ids->is_array() || !weights->is_array() || ids->empty() ||
        ids->size() != weights->size())
      fail("{}: experts and weights must be non-empty lists of equal length", where);
    if (static_cast<int64_t>(ids->size()) > s.top_k)
      fail("{}: token {} layer {} routes to {} experts, more than the header's top_k {}", where, t, layer,
           ids->size(), s.top_k);
    Record r;
    for (const json& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= s.experts)
        fail("{}: expert {} out of range [0, {})", where, id.dump(), s.experts);
      if (std::find(r.experts.begin(), r.experts.end(), id.get<int32_t>()) != r.experts.end())
        fail("{}: token {} layer {} lists expert {} twice", where, t, layer, id.dump());
      r.experts.push_back(id.get<int32_t>());
    }
    for (const json& w : *weights) {
      if (!w.is_number() || !std::isfinite(w.get<double>()))
        fail("{}: weight {} is not a finite number", where, w.dump());
      r.weights.push_back(w.get<float>());
    }
    if (sink) sink(t, layer, std::move(r));
  }
  if (!header) fail("{}: empty file, not a routing trace", path.string());
  if (s.tokens == 0) fail("{}: routing trace has no tokens", path.string());
  close_token(s.tokens - 1);
  s.moe_layers.assign(first_layers.begin(), first_layers.end());
  s.content_hash = hash.hex();
  return s;
}

// The first k of a record by weight (the router's order), their weights renormalised when the
// record's were (a top-k softmax sums to 1): what the trained model's router gives at top-k.
Record top_k(const Record& r, int64_t k) {
  if (static_cast<int64_t>(r.experts.size()) <= k) return r;
  std::vector<size_t> order(r.experts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r.weights[a] > r.weights[b]; });
  Record out;
  double all = 0, kept = 0;
  for (float w : r.weights) all += w;
  for (int64_t i = 0; i < k; ++i) {
    out.experts.push_back(r.experts[order[i]]);
    out.weights.push_back(r.weights[order[i]]);
    kept += r.weights[order[i]];
  }
  if (std::abs(all - 1.0) < 1e-3 && kept > 0)
    for (float& w : out.weights) w = static_cast<float>(w / kept);
  return out;
}

std::string map_kind_name(LayerMapKind kind) {
  switch (kind) {
    case LayerMapKind::kCycle: return "cycle";
    case LayerMapKind::kStretch: return "stretch";
    case LayerMapKind::kList: return "list";
  }
  return "?";
}

}  // namespace

std::string LayerMap::text() const {
  if (kind != LayerMapKind::kList) return map_kind_name(kind);
  return fmt::format("[{}]", fmt::join(list, ","));
}

TraceSummary read_trace_summary(const fs::path& trace) { return read_trace(trace, {}); }

std::vector<int64_t> resolve_layer_map(const LayerMap& map, const ModelShape& model,
                                       const ModelShape& trace_shape,
                                       const std::vector<int64_t>& trace_moe, bool match_types) {
  const std::vector<int64_t> model_moe = model.moe_layers();
  if (model_moe.empty()) fail("the model ({}) has no MoE layer to replay routing on", model.source);
  if (trace_moe.empty()) fail("the trace records no MoE layer");
  for (int64_t t : trace_moe)
    if (t >= trace_shape.layers)
      fail("the trace records layer {}, but its model ({}) has {} layers", t, trace_shape.source,
           trace_shape.layers);
  auto type_of = [](const ModelShape& s, int64_t layer) { return s.layer_types[static_cast<size_t>(layer)]; };
  std::vector<int64_t> chosen(model_moe.size());
  switch (map.kind) {
    case LayerMapKind::kCycle:
      for (size_t j = 0; j < model_moe.size(); ++j) chosen[j] = trace_moe[j % trace_moe.size()];
      break;
    case LayerMapKind::kStretch:
      for (LayerKind kind : {LayerKind::kLinearAttention, LayerKind::kFullAttention}) {
        std::vector<size_t> mine;  // positions in model_moe
        std::vector<int64_t> theirs;
        for (size_t j = 0; j < model_moe.size(); ++j)
          if (!match_types || type_of(model, model_moe[j]) == kind) mine.push_back(j);
        for (int64_t t : trace_moe)
          if (!match_types || type_of(trace_shape, t) == kind) theirs.push_back(t);
        if (mine.empty()) continue;
        if (theirs.empty())
          fail("layer_map stretch: the model has {} {} MoE layers, the trace none (match_types: false "
               "maps them anyway)",
               mine.size(), layer_kind_name(kind));
        for (size_t i = 0; i < mine.size(); ++i) chosen[mine[i]] = theirs[i * theirs.size() / mine.size()];
        if (!match_types) break;  // one pass over every layer
      }
      break;
    case LayerMapKind::kList:
      if (map.list.size() != model_moe.size())
        fail("layer_map lists {} trace layers, the model has {} MoE layers (one entry each)", map.list.size(),
             model_moe.size());
      for (size_t j = 0; j < model_moe.size(); ++j) {
        if (std::find(trace_moe.begin(), trace_moe.end(), map.list[j]) == trace_moe.end())
          fail("layer_map entry {} is trace layer {}, which records no routing (the trace's MoE layers: [{}])",
               j, map.list[j], fmt::join(trace_moe, ","));
        chosen[j] = map.list[j];
      }
      break;
  }
  if (match_types)
    for (size_t j = 0; j < model_moe.size(); ++j)
      if (type_of(model, model_moe[j]) != type_of(trace_shape, chosen[j]))
        fail("layer_map {} maps model layer {} ({}) to trace layer {} ({}); the layer patterns differ: use "
             "stretch (maps within each attention type), a list, or match_types: false",
             map.text(), model_moe[j], layer_kind_name(type_of(model, model_moe[j])), chosen[j],
             layer_kind_name(type_of(trace_shape, chosen[j])));
  std::vector<int64_t> out(static_cast<size_t>(model.layers), -1);
  for (size_t j = 0; j < model_moe.size(); ++j) out[static_cast<size_t>(model_moe[j])] = chosen[j];
  return out;
}

json RoutingReplaySpec::to_json() const {
  json j = {{"trace", trace.string()},         {"trace_model", trace_model.string()},
            {"layer_map", map.text()},         {"windows", windows},
            {"cycle_tokens", cycle_tokens},    {"match_types", match_types},
            {"predictor_trace", predictor_trace}};
  if (!predictor_source.empty()) j["predictor_source"] = predictor_source.string();
  return j;
}

json ReplayRecipe::provenance() const {
  return {{"source", source.string()},   {"source_hash", source_hash}, {"trace_model", trace_model},
          {"layer_map", map_text},       {"map", map},                 {"k", k},
          {"trace_top_k", trace_top_k},  {"first_token", first_token}, {"tokens", tokens},
          {"cycle_tokens", cycle_tokens}};
}

std::string ReplayRecipe::describe() const {
  int64_t mapped = std::count_if(map.begin(), map.end(), [](int64_t t) { return t >= 0; });
  return fmt::format("routing of {} tokens {}..{} ({}) on {} MoE layers by layer map {}{}",
                     source.filename().string(), first_token, first_token + tokens - 1,
                     cycle_tokens && first_token + tokens > trace_tokens ? "wrapping to its start" : "replayed",
                     mapped, map_text, k < trace_top_k ? fmt::format(", top-{} of {}", k, trace_top_k) : "");
}

fs::path replay_file(const fs::path& models_dir, const ReplayRecipe& recipe) {
  const std::string hash = StableHash().add(recipe.provenance().dump()).hex().substr(0, 8);
  const std::string kind = recipe.map_text.empty() || recipe.map_text[0] != '[' ? recipe.map_text : "list";
  return models_dir / "routing" /
         fmt::format("{}-{}-l{}-t{}+{}{}-{}.jsonl", recipe.source.stem().string(), kind, recipe.map.size(),
                     recipe.first_token, recipe.tokens,
                     recipe.k < recipe.trace_top_k ? fmt::format("-k{}", recipe.k) : "", hash);
}

namespace {

json read_header(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) return nullptr;
  return json::parse(line, nullptr, false);
}

}  // namespace

PreparedReplay prepare_replay(const ReplayRecipe& recipe) {
  PreparedReplay prepared;
  prepared.recipe = recipe;
  const json wanted = recipe.provenance();
  if (json header = read_header(recipe.file); header.is_object() && header.value("derived_from", json()) == wanted) {
    prepared.reused = true;
    prepared.header = header;
    return prepared;
  }
  std::vector<std::vector<Record>> steps;  // [token][layer]
  TraceSummary s;
  try {
    s = read_trace(recipe.source, [&](int64_t t, int64_t layer, Record&& r) {
      if (t == static_cast<int64_t>(steps.size())) steps.emplace_back();
      auto& row = steps.back();
      if (static_cast<int64_t>(row.size()) <= layer) row.resize(static_cast<size_t>(layer) + 1);
      row[static_cast<size_t>(layer)] = std::move(r);
    });
  } catch (const Error& e) {
    fail("{}: {}", recipe.where, e.what());
  }
  if (s.content_hash != recipe.source_hash)
    fail("{}: routing trace {} changed since the experiment was planned; run it again", recipe.where,
         recipe.source.string());

  fs::create_directories(recipe.file.parent_path());
  remove_leftovers(recipe.file.parent_path(), "writing");
  fs::path scratch = recipe.file;
  scratch += fmt::format(".writing-{}", getpid());
  {
    std::ofstream out(scratch, std::ios::binary | std::ios::trunc);
    prepared.header = {{"routing_trace", 1},
                       {"layers", static_cast<int64_t>(recipe.map.size())},
                       {"experts", recipe.experts},
                       {"top_k", recipe.k},
                       {"model", fmt::format("{} replayed by streammoe-lab", recipe.trace_model)},
                       {"derived_from", wanted}};
    out << prepared.header.dump() << "\n";
    for (int64_t t = 0; t < recipe.tokens; ++t) {
      int64_t source_t = recipe.first_token + t;
      if (source_t >= s.tokens) {
        if (!recipe.cycle_tokens)
          fail("{}: routing trace {} holds {} tokens, the replay needs token {}", recipe.where,
               recipe.source.string(), s.tokens, source_t);
        source_t %= s.tokens;
      }
      for (size_t layer = 0; layer < recipe.map.size(); ++layer) {
        if (recipe.map[layer] < 0) continue;
        const Record r = top_k(steps[static_cast<size_t>(source_t)][static_cast<size_t>(recipe.map[layer])], recipe.k);
        out << json{{"t", t}, {"layer", static_cast<int64_t>(layer)}, {"experts", r.experts}, {"weights", r.weights}}
                   .dump()
            << "\n";
      }
    }
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(scratch, ec);
      fail("{}: cannot write {} (disk full?)", recipe.where, scratch.string());
    }
  }
  std::error_code ec;
  fs::rename(scratch, recipe.file, ec);
  if (ec) {
    fs::remove(scratch, ec);
    fail("{}: cannot move the replay trace into {}: {}", recipe.where, recipe.file.string(), ec.message());
  }
  return prepared;
}

uint64_t replay_bytes_estimate(const ReplayRecipe& recipe) {
  const int64_t layers = std::count_if(recipe.map.begin(), recipe.map.end(), [](int64_t t) { return t >= 0; });
  // A record is about 24 bytes of keys plus an expert id and a float's digits per expert (the
  // shipped 4,096-token trace: 232 bytes per top-8 record).
  const double per_record = 24.0 + 28.0 * static_cast<double>(recipe.k);
  return static_cast<uint64_t>(static_cast<double>(recipe.tokens * layers) * per_record + 512);
}

}  // namespace streammoe::lab
