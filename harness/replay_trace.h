#pragma once
// Learned routing replayed onto a model of another depth, as derived data. A routing trace
// recorded on a small trained model (e.g. models/tiny-qwen35moe-256e/traces/, 4 layers) cannot
// drive a 40-layer synth model as it is: the engine's --replay-routing maps trace layer L to
// model layer L. An experiment names the trace and a layer map,
//
//   routing: {trace: FILE, layer_map: cycle | stretch | [trace layer per model MoE layer]}
//
// and the lab writes, once, a trace for the run's model: every MoE layer of the model replays
// the MoE layer of the trace the map names, over the tokens a run feeds (prompt + generated),
// cut to the variant's --k. The derived file's header carries its provenance (the source's
// content hash, the map, the window of tokens); it is reused while that matches, and the runs
// get --replay-routing FILE. Quality runs never replay: they measure the trained model with its
// own routers, which is what the trace recorded.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/model_shape.h"

namespace streammoe::lab {

// Which trace layer each MoE layer of the model replays.
//   cycle    the model's j-th MoE layer <- the trace's (j mod n)-th of its n MoE layers: keeps a
//            periodic layer pattern (40 layers of 3 linear + 1 full read a 4-layer trace's
//            layers 0 1 2 3 0 1 2 3 ...)
//   stretch  per attention type, the model's MoE layers of that type spread evenly over the
//            trace's of that type, in order (30 linear layers <- the trace's 3 linear ones, ten
//            each; 10 full layers <- its one full layer)
//   list     one trace layer per model MoE layer, written out
enum class LayerMapKind { kCycle, kStretch, kList };

struct LayerMap {
  LayerMapKind kind = LayerMapKind::kCycle;
  std::vector<int64_t> list;  // kList
  std::string text() const;   // "cycle", "stretch", "[3,0,1]"
};

// What a routing trace holds, read and checked line by line (errors name file:line).
struct TraceSummary {
  int64_t layers = 0;   // the header's: the recording model's layers
  int64_t experts = 0;
  int64_t top_k = 0;
  int64_t tokens = 0;
  std::vector<int64_t> moe_layers;  // the layers with routing recorded (every token has them)
  std::string model;                // the header's "model"
  std::string content_hash;         // of the whole file: the provenance of what is derived from it
};
TraceSummary read_trace_summary(const std::filesystem::path& trace);

// model layer -> trace layer (-1 for a model layer without a MoE block). `trace_shape` is the
// recording model's (for layer types); with match_types every mapped pair must share its
// attention type. Errors are plain sentences (the caller adds the YAML position).
std::vector<int64_t> resolve_layer_map(const LayerMap& map, const ModelShape& model,
                                       const ModelShape& trace_shape,
                                       const std::vector<int64_t>& trace_moe_layers,
                                       bool match_types);

// `routing:` as written in an experiment (or one variant).
struct RoutingReplaySpec {
  std::filesystem::path trace;
  std::filesystem::path trace_model;  // the recording model (layer types); default: the header's
  LayerMap map;
  int windows = 1;             // repeat r replays window r % windows (consecutive token ranges)
  bool cycle_tokens = false;   // a window past the trace's end wraps to its start
  bool match_types = true;
  bool predictor_trace = false;  // also --predictor-trace: the oracle predictor knows the replay,
  std::filesystem::path predictor_source;  // or this other trace of the same tokens (for example
                                           // the early router's decisions), derived like it
  std::string where;            // file:line:column of `routing:`
  std::string where_trace;      // ... of its trace, and of its layer map
  std::string where_map;

  nlohmann::json to_json() const;
};

// One derived trace: what it is made from and for.
struct ReplayRecipe {
  std::filesystem::path source;
  std::string source_hash;
  std::string trace_model;      // label of the recording model
  std::string map_text;         // LayerMap::text()
  std::vector<int64_t> map;     // model layer -> trace layer, -1: no MoE
  int64_t experts = 0;
  int64_t k = 0;                // experts replayed per token (<= the trace's top_k)
  int64_t trace_top_k = 0;
  int64_t trace_tokens = 0;
  int64_t first_token = 0;      // of the source, for token 0 of the derived trace
  int64_t tokens = 0;           // positions the derived trace covers
  bool cycle_tokens = false;
  std::filesystem::path file;   // where it is written (replay_file())
  std::string where;

  // What the derived file's header records under "derived_from", and what must match for reuse.
  nlohmann::json provenance() const;
  std::string describe() const;  // one line for plans and progress
};

// <models_dir>/routing/<trace stem>-<map>-l<model layers>-t<first>+<tokens>[-k<k>]-<hash>.jsonl
std::filesystem::path replay_file(const std::filesystem::path& models_dir, const ReplayRecipe& recipe);

struct PreparedReplay {
  ReplayRecipe recipe;
  bool reused = false;
  nlohmann::json header;  // the derived file's first line
};

// Writes recipe.file unless a file with the same provenance is there: through a scratch file
// renamed into place, so an interrupted write never looks finished. Error naming the recipe's
// YAML position when the source changed since the plan (its hash) or cannot be read.
PreparedReplay prepare_replay(const ReplayRecipe& recipe);

// Bytes the derived trace will take (for --dry-run), from the source's bytes per record.
uint64_t replay_bytes_estimate(const ReplayRecipe& recipe);

}  // namespace streammoe::lab
