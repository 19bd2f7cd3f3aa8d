// Learned routing replayed onto a deeper model: the layer maps (cycle, stretch, list) with layer
// types and dense layers, the derived trace (content, top-k cut, windows, wrapping, provenance
// in its header, reuse), the checks at plan time (expert count, K, tokens, the map) as one
// error at the YAML line, and the runs (speed runs replay, quality runs do not). The last test
// replays the trained 256-expert model's shipped trace on a 12-layer synth model with the real
// engine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "engine/util/error.h"
#include "harness/estimate.h"
#include "harness/executor.h"
#include "harness/mock_executor.h"
#include "harness/replay_trace.h"
#include "harness/runner.h"
#include "lab_fixture.h"
#include "report/terminal.h"
#include "tests/common/error_of.h"

namespace streammoe::lab {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using streammoe::testing::error_of;
using testing::TempDir;

// A model of `layers` layers in Qwen3.5's pattern (3 linear-attention layers, then one full),
// every layer MoE.
ModelShape qwen35_shape(int64_t layers, int64_t interval = 4) {
  ModelShape s;
  s.layers = layers;
  s.experts = 256;
  s.top_k = 8;
  for (int64_t i = 0; i < layers; ++i) {
    s.layer_types.push_back((i + 1) % interval == 0 ? LayerKind::kFullAttention : LayerKind::kLinearAttention);
    s.moe.push_back(true);
  }
  s.source = fmt::format("{}-layer model", layers);
  return s;
}

const std::vector<int64_t> kTraceMoe = {0, 1, 2, 3};

TEST(LayerMap, CycleKeepsThePeriodicPattern) {
  auto map = resolve_layer_map({LayerMapKind::kCycle, {}}, qwen35_shape(40), qwen35_shape(4), kTraceMoe, true);
  ASSERT_EQ(map.size(), 40u);
  for (int64_t i = 0; i < 40; ++i) EXPECT_EQ(map[i], i % 4) << "layer " << i;
}

TEST(LayerMap, StretchSpreadsEachAttentionTypeOverTheTracesLayersOfThatType) {
  auto map = resolve_layer_map({LayerMapKind::kStretch, {}}, qwen35_shape(40), qwen35_shape(4), kTraceMoe, true);
  // The 30 linear layers (0 1 2 4 5 6 ...) take trace layers 0, 1, 2 ten each, in order; the 10
  // full layers (3 7 ... 39) all take trace layer 3.
  std::vector<int64_t> expected;
  int linear = 0;
  for (int64_t i = 0; i < 40; ++i) expected.push_back((i + 1) % 4 == 0 ? 3 : linear++ / 10);
  EXPECT_THAT(map, ElementsAreArray(expected));
  EXPECT_EQ(map[12], 0);  // the 10th linear layer
  EXPECT_EQ(map[13], 1);  // the 11th
  // Without types: 40 layers over 4, ten consecutive layers each.
  auto plain = resolve_layer_map({LayerMapKind::kStretch, {}}, qwen35_shape(40), qwen35_shape(4), kTraceMoe, false);
  for (int64_t i = 0; i < 40; ++i) EXPECT_EQ(plain[i], i / 10);
}

TEST(LayerMap, ListNamesOneTraceLayerPerModelMoeLayer) {
  auto map = resolve_layer_map({LayerMapKind::kList, {2, 1, 0, 3, 0, 0, 1, 3}}, qwen35_shape(8), qwen35_shape(4),
                               kTraceMoe, true);
  EXPECT_THAT(map, ElementsAreArray(std::vector<int64_t>{2, 1, 0, 3, 0, 0, 1, 3}));
  EXPECT_THAT(error_of([] {
                resolve_layer_map({LayerMapKind::kList, {0, 1, 2}}, qwen35_shape(8), qwen35_shape(4), kTraceMoe, true);
              }),
              HasSubstr("layer_map lists 3 trace layers, the model has 8 MoE layers"));
  EXPECT_THAT(error_of([] {
                resolve_layer_map({LayerMapKind::kList, {0, 1, 2, 3, 0, 1, 2, 2}}, qwen35_shape(8), qwen35_shape(4),
                                  kTraceMoe, true);
              }),
              HasSubstr("maps model layer 7 (full_attention) to trace layer 2 (linear_attention)"));
  EXPECT_THAT(error_of([] {
                resolve_layer_map({LayerMapKind::kList, {0, 1, 2, 3, 0, 1, 2, 9}}, qwen35_shape(8), qwen35_shape(4),
                                  kTraceMoe, true);
              }),
              HasSubstr("layer_map entry 7 is trace layer 9, which records no routing"));
}

TEST(LayerMap, CycleRefusesPatternsThatDifferUnlessTypesAreIgnored) {
  // Every other layer full attention: cycling a 3+1 trace would put linear routing on full layers.
  EXPECT_THAT(error_of([] {
                resolve_layer_map({LayerMapKind::kCycle, {}}, qwen35_shape(8, 2), qwen35_shape(4), kTraceMoe, true);
              }),
              HasSubstr("maps model layer 1 (full_attention) to trace layer 1 (linear_attention); the layer "
                        "patterns differ: use stretch"));
  auto stretched =
      resolve_layer_map({LayerMapKind::kStretch, {}}, qwen35_shape(8, 2), qwen35_shape(4), kTraceMoe, true);
  EXPECT_THAT(stretched, ElementsAreArray(std::vector<int64_t>{0, 3, 0, 3, 1, 3, 2, 3}));
  auto ignored = resolve_layer_map({LayerMapKind::kCycle, {}}, qwen35_shape(8, 2), qwen35_shape(4), kTraceMoe, false);
  EXPECT_THAT(ignored, ElementsAreArray(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 3}));
}

TEST(LayerMap, OnlyMoeLayersReplay) {
  ModelShape model = qwen35_shape(8);
  model.moe[0] = model.moe[4] = false;  // dense MLP layers (Qwen3-MoE's mlp_only_layers)
  auto map = resolve_layer_map({LayerMapKind::kCycle, {}}, model, qwen35_shape(8), {1, 2, 3}, false);
  EXPECT_THAT(map, ElementsAreArray(std::vector<int64_t>{-1, 1, 2, 3, -1, 1, 2, 3}));
}

// --- derived traces in an experiment -----------------------------------------------------------

// A Qwen3.5-MoE text config (what the engine's parser accepts) of the given depth and routing.
json qwen35_config(int64_t layers, int64_t experts, int64_t top_k) {
  return {{"model_type", "qwen3_5_moe_text"},
          {"vocab_size", 64},
          {"hidden_size", 64},
          {"num_hidden_layers", layers},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"head_dim", 32},
          {"linear_key_head_dim", 16},
          {"linear_value_head_dim", 16},
          {"linear_num_key_heads", 2},
          {"linear_num_value_heads", 2},
          {"num_experts", experts},
          {"num_experts_per_tok", top_k},
          {"moe_intermediate_size", 64},
          {"shared_expert_intermediate_size", 64},
          {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000.0}, {"partial_rotary_factor", 0.5}}}};
}

// Token t, layer l of the test trace routes to experts (t + l + 3i + shift) mod 16, i < 4, with
// weights 0.4 0.3 0.2 0.1: every record is distinct and its order known (shift tells traces apart).
std::vector<int32_t> recorded_experts(int64_t t, int64_t layer, int64_t shift = 0) {
  std::vector<int32_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(static_cast<int32_t>((t + layer + 3 * i + shift) % 16));
  return ids;
}

class ReplayExperimentTest : public testing::LabProjectTest {
 protected:
  void SetUp() override {
    LabProjectTest::SetUp();
    write_json(dir_ / "models/trained/config.json", qwen35_config(4, 16, 4));
    write_json(dir_ / "configs/deep.json", qwen35_config(40, 16, 4));
    write_json(dir_ / "configs/wide.json", qwen35_config(40, 32, 4));
    write_json(dir_ / "configs/top2.json", qwen35_config(40, 16, 2));
    write_trace(dir_ / "traces/t.jsonl", 20);
  }
  static void write_json(const fs::path& path, const json& j) { testing::write_text(path, j.dump(1)); }
  void write_trace(const fs::path& path, int64_t tokens, int64_t shift = 0) {
    std::string text = json{{"routing_trace", 1}, {"layers", 4}, {"experts", 16}, {"top_k", 4},
                            {"model", "models/trained"}}.dump() + "\n";
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t l = 0; l < 4; ++l)
        text += json{{"t", t}, {"layer", l}, {"experts", recorded_experts(t, l, shift)}, {"weights", {0.4, 0.3, 0.2, 0.1}}}
                    .dump() + "\n";
    testing::write_text(path, text);
  }
  ExperimentSpec load(const std::string& yaml) { return LabProjectTest::load(yaml, dir_ / "derived"); }
  std::string load_error(const std::string& yaml) { return error_of([&] { load(yaml); }); }
  static std::vector<json> read_lines(const fs::path& path) {
    std::vector<json> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  }
};

// routing: on line 4 (its trace on line 4 too), 3 prompt ids + 4 tokens = 6 fed per run.
std::string experiment(const std::string& config, const std::string& routing, const std::string& extra = "") {
  return "name: r\nmodel: {synth: {like: configs/" + config +
         ", bits: 4}}\nworkload: {ids: [1, 2, 3], tokens: 4}\nrouting: " + routing +
         "\nrepeats: 3\nbaseline: base\nvariants:\n  - name: base\n  - name: top2\n    switches: {k: 2}\n" + extra;
}

TEST_F(ReplayExperimentTest, DerivedTracesFollowTheMapWindowsAndK) {
  ExperimentSpec spec =
      load(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: cycle, windows: 2}"));
  // 2 variants x 2 windows of 6 tokens: tokens 0..5 and 6..11 of the trace, top-4 and top-2.
  ASSERT_EQ(spec.replays.size(), 4u);
  const Variant& base = spec.variants[0];
  const Variant& top2 = spec.variants[1];
  ASSERT_EQ(base.replay.size(), 1u);
  ASSERT_EQ(base.replay[0].size(), 2u);
  EXPECT_EQ(*spec.replay_for(base, 0, 0), base.replay[0][0]);
  EXPECT_EQ(*spec.replay_for(base, 0, 1), base.replay[0][1]);
  EXPECT_EQ(*spec.replay_for(base, 0, 2), base.replay[0][0]);  // repeat 2: window 0 again
  EXPECT_EQ(base.replay[0][0].parent_path(), dir_ / "derived/routing");
  EXPECT_THAT(base.replay[0][1].filename().string(), ::testing::StartsWith("t-cycle-l40-t6+6-"));
  EXPECT_THAT(top2.replay[0][0].filename().string(), ::testing::StartsWith("t-cycle-l40-t0+6-k2-"));

  for (const auto& recipe : spec.replays) EXPECT_FALSE(prepare_replay(recipe).reused);
  auto lines = read_lines(base.replay[0][1]);
  ASSERT_EQ(lines.size(), 1u + 6 * 40);
  const json& header = lines[0];
  EXPECT_EQ(header["layers"], 40);
  EXPECT_EQ(header["experts"], 16);
  EXPECT_EQ(header["top_k"], 4);
  EXPECT_EQ(header["derived_from"]["layer_map"], "cycle");
  EXPECT_EQ(header["derived_from"]["first_token"], 6);
  EXPECT_EQ(header["derived_from"]["source_hash"], read_trace_summary(dir_ / "traces/t.jsonl").content_hash);
  // Derived token 2, model layer 13 = trace token 8, layer 13 mod 4 = 1.
  const json& record = lines[1 + 2 * 40 + 13];
  EXPECT_EQ(record["t"], 2);
  EXPECT_EQ(record["layer"], 13);
  EXPECT_EQ(record["experts"].get<std::vector<int32_t>>(), recorded_experts(8, 1));
  // top2: the two heaviest experts, weights renormalised (0.4, 0.3) -> (4/7, 3/7).
  auto cut = read_lines(top2.replay[0][0]);
  EXPECT_EQ(cut[0]["top_k"], 2);
  const json& first = cut[1 + 5];  // token 0, layer 5 <- trace layer 1
  EXPECT_EQ(first["experts"].get<std::vector<int32_t>>(),
            (std::vector<int32_t>{recorded_experts(0, 1)[0], recorded_experts(0, 1)[1]}));
  EXPECT_NEAR(first["weights"][0].get<double>(), 0.4 / 0.7, 1e-6);
  EXPECT_NEAR(first["weights"][1].get<double>(), 0.3 / 0.7, 1e-6);
}

TEST_F(ReplayExperimentTest, ADerivedTraceIsReusedWhileItsProvenanceHolds) {
  ExperimentSpec spec = load(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: stretch}"));
  const ReplayRecipe recipe = spec.replays[0];
  EXPECT_FALSE(prepare_replay(recipe).reused);
  const auto written = fs::last_write_time(recipe.file);
  PreparedReplay again = prepare_replay(recipe);
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.header["derived_from"], recipe.provenance());
  EXPECT_EQ(fs::last_write_time(recipe.file), written);
  // Another map is another file; a different recording (its content hash) is another file too.
  ExperimentSpec cycled = load(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: cycle}"));
  EXPECT_NE(cycled.replays[0].file, recipe.file);
  write_trace(dir_ / "traces/t.jsonl", 21);
  ExperimentSpec rerecorded = load(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: stretch}"));
  EXPECT_NE(rerecorded.replays[0].source_hash, recipe.source_hash);
  EXPECT_NE(rerecorded.replays[0].file, recipe.file);
  EXPECT_NE(rerecorded.identity_hash(), spec.identity_hash());
  // The trace changed after the plan was made: refused, not replayed from the wrong recording.
  EXPECT_THAT(lab::error_of([&] { prepare_replay(spec.replays[1]); }),
              HasSubstr("e.yaml:4:10: routing trace " + (dir_ / "traces/t.jsonl").string() +
                        " changed since the experiment was planned"));
  // A file with another provenance under the same name (edited by hand) is written again.
  testing::write_text(rerecorded.replays[0].file, "{\"routing_trace\": 1}\n");
  EXPECT_FALSE(prepare_replay(rerecorded.replays[0]).reused);
}

TEST_F(ReplayExperimentTest, MismatchesAreOneErrorAtTheYamlLine) {
  EXPECT_THAT(load_error(experiment("wide.json", "{trace: traces/t.jsonl, layer_map: cycle}")),
              HasSubstr("e.yaml:4:18: routing.trace " + (dir_ / "traces/t.jsonl").string() +
                        " routes over 16 experts, the model (" + (dir_ / "configs/wide.json").string() +
                        ") has 32: replay needs the same expert count"));
  EXPECT_THAT(load_error(experiment("top2.json", "{trace: traces/t.jsonl, layer_map: cycle}")),
              HasSubstr("e.yaml:4:18: routing.trace " + (dir_ / "traces/t.jsonl").string() +
                        " records top-4 routing, the model (" + (dir_ / "configs/top2.json").string() +
                        ") routes top-2: K must match"));
  // 3 windows of 6 tokens need 18 of the trace's 20; 4 need 24.
  EXPECT_NO_THROW(load(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: cycle, windows: 3}")));
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: cycle, windows: 4}")),
              HasSubstr("e.yaml:4:18: routing.trace " + (dir_ / "traces/t.jsonl").string() +
                        " holds 20 tokens, but the runs feed up to 6 each (the prompt's 3 + 4 generated - 1), in 4 "
                        "windows: record a longer trace, shorten the workload, or set routing.cycle_tokens: true"));
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: [0, 1, 2]}")),
              HasSubstr("e.yaml:4:45: routing.layer_map: layer_map lists 3 trace layers, the model has 40 MoE "
                        "layers"));
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: zigzag}")),
              HasSubstr("e.yaml:4:45: routing.layer_map must be cycle, stretch or a list"));
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/none.jsonl, layer_map: cycle}")),
              HasSubstr("e.yaml:4:18: routing.trace 'traces/none.jsonl' not found"));
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/t.jsonl}")),
              HasSubstr("e.yaml:4:10: routing needs 'layer_map: cycle | stretch"));
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: cycle}",
                                  "  - name: k8\n    switches: {k: 8}\n")),
              HasSubstr("variant 'k8' routes to k 8 experts, but routing.trace " +
                        (dir_ / "traces/t.jsonl").string() + " records only 4 per token"));
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: cycle}",
                                  "  - name: own\n    switches: {replay-routing: x.jsonl}\n")),
              HasSubstr("variant 'own' sets replay-routing, and routing: at "));
  // A trace whose header names no model folder here needs trace_model (for its layer types).
  std::string text = testing::read_text(dir_ / "traces/t.jsonl");
  text.replace(text.find("models/trained"), 14, "gone/elsewhere");
  testing::write_text(dir_ / "traces/moved.jsonl", text);
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/moved.jsonl, layer_map: cycle}")),
              HasSubstr("its header names the model 'gone/elsewhere', which is not a model folder here; name the "
                        "model that recorded it with routing.trace_model"));
  EXPECT_NO_THROW(load(experiment("deep.json", "{trace: traces/moved.jsonl, layer_map: cycle, trace_model: "
                                               "models/trained}")));
  // A malformed trace: its own file:line, behind the YAML's.
  testing::write_text(dir_ / "traces/bad.jsonl", "{\"routing_trace\": 1, \"layers\": 4, \"experts\": 16, "
                                                 "\"top_k\": 4}\n{\"t\": 0, \"layer\": 0, \"experts\": [99], "
                                                 "\"weights\": [1]}\n");
  EXPECT_THAT(load_error(experiment("deep.json", "{trace: traces/bad.jsonl, layer_map: cycle}")),
              HasSubstr("e.yaml:4:18: routing.trace: " + (dir_ / "traces/bad.jsonl").string() +
                        ":2: expert 99 out of range [0, 16)"));
}

TEST_F(ReplayExperimentTest, CycleTokensWrapsAWindowPastTheTracesEnd) {
  ExperimentSpec spec = load(experiment(
      "deep.json", "{trace: traces/t.jsonl, layer_map: cycle, windows: 4, cycle_tokens: true}"));
  const fs::path& last = spec.variants[0].replay[0][3];  // tokens 18 19 0 1 2 3
  prepare_replay(*std::find_if(spec.replays.begin(), spec.replays.end(),
                               [&](const ReplayRecipe& r) { return r.file == last; }));
  auto lines = read_lines(last);
  EXPECT_EQ(lines[0]["derived_from"]["first_token"], 18);
  EXPECT_EQ(lines[1 + 1 * 40]["experts"].get<std::vector<int32_t>>(), recorded_experts(19, 0));
  EXPECT_EQ(lines[1 + 2 * 40]["experts"].get<std::vector<int32_t>>(), recorded_experts(0, 0));
}

TEST_F(ReplayExperimentTest, SpeedRunsReplayAndQualityRunsUseTheTrainedModelsOwnRouters) {
  ExperimentSpec spec = load(experiment(
      "deep.json", "{trace: traces/t.jsonl, layer_map: cycle, windows: 2, predictor_trace: true}",
      "quality_model: models/trained\nquality: {ids: [1, 2, 3, 4]}\n"));
  std::vector<Command> generates, evals;
  MockExecutor executor = mock_engine(generates, evals);
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, options()).run();
  ASSERT_EQ(generates.size(), 6u);
  for (const auto& c : generates) {
    const std::string replay = MockExecutor::flag(c, "replay-routing");
    EXPECT_TRUE(fs::exists(replay)) << replay;
    EXPECT_EQ(MockExecutor::flag(c, "predictor-trace"), replay);
  }
  // Repeat-major, interleaved: base and top2 of a repeat replay the same window.
  EXPECT_EQ(MockExecutor::flag(generates[0], "replay-routing"), spec.variants[0].replay[0][0].string());
  EXPECT_EQ(MockExecutor::flag(generates[2], "replay-routing"), spec.variants[0].replay[0][1].string());
  EXPECT_EQ(MockExecutor::flag(generates[3], "replay-routing"), spec.variants[1].replay[0][1].string());
  ASSERT_FALSE(evals.empty());
  for (const auto& c : evals) EXPECT_FALSE(MockExecutor::has(c, "--replay-routing"));
  for (size_t i = 1; i < evals.size(); ++i)  // the variants': the oracle reads the recorded trace
    EXPECT_EQ(MockExecutor::flag(evals[i], "predictor-trace"), (dir_ / "traces/t.jsonl").string());
  // Provenance with the experiment: which derived traces, made from what.
  auto plan = json::parse(to_text(store.query("SELECT plan_json FROM experiments")[0].values[0]));
  ASSERT_EQ(plan["prepared_traces"].size(), 4u);
  EXPECT_EQ(plan["prepared_traces"][0]["header"]["derived_from"]["source"], (dir_ / "traces/t.jsonl").string());
  EXPECT_EQ(plan["routing"]["layer_map"], "cycle");
  // The replayed routing is one of the conditions `compare` matches experiments on.
  auto conditions = experiment_conditions(store, 1);
  ASSERT_TRUE(conditions.count("routing"));
  EXPECT_THAT(conditions["routing"], HasSubstr("\"layer_map\":\"cycle\""));
  EXPECT_THAT(conditions["routing"], HasSubstr("t.jsonl"));
  std::ostringstream dry;
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", dry);
  EXPECT_THAT(dry.str(), HasSubstr("prepare (made before; reused if current): routing of t.jsonl tokens 0..5 "
                                   "(replayed) on 40 MoE layers by layer map cycle -> derived/routing/t-cycle-l40-t0+6-"));
}

TEST_F(ReplayExperimentTest, APredictorTraceFileIsDerivedLikeTheReplayAndFeedsOnlyThePredictor) {
  // The early router's decisions, say: the same tokens, other experts.
  write_trace(dir_ / "traces/early.jsonl", 20, /*shift=*/1);
  ExperimentSpec spec = load(experiment(
      "deep.json", "{trace: traces/t.jsonl, layer_map: cycle, windows: 2, predictor_trace: traces/early.jsonl}"));
  std::vector<Command> generates, evals;
  MockExecutor executor = mock_engine(generates, evals);
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, options()).run();
  ASSERT_EQ(generates.size(), 6u);
  for (const auto& c : generates) {
    const fs::path replay = MockExecutor::flag(c, "replay-routing");
    const fs::path predicted = MockExecutor::flag(c, "predictor-trace");
    ASSERT_TRUE(fs::exists(predicted)) << predicted;
    EXPECT_NE(replay, predicted);
    const auto r = read_lines(replay), p = read_lines(predicted);
    const int64_t first = r[0]["derived_from"]["first_token"];
    EXPECT_EQ(p[0]["derived_from"]["first_token"], first);
    EXPECT_EQ(p[0]["derived_from"]["source"], (dir_ / "traces/early.jsonl").string());
    // Token 1 of the window at model layer 5 (trace layer 1 by the cycle map), from each trace,
    // the variant's K first (top2 replays 2).
    const size_t k = MockExecutor::flag(c, "k") == "2" ? 2 : 4;
    auto expected = [&](int64_t shift) {
      auto ids = recorded_experts(first + 1, 1, shift);
      ids.resize(k);
      return ids;
    };
    EXPECT_EQ(r[1 + 40 + 5]["experts"].get<std::vector<int32_t>>(), expected(0));
    EXPECT_EQ(p[1 + 40 + 5]["experts"].get<std::vector<int32_t>>(), expected(1));
  }
  // A predictor trace that does not record the same tokens is one error at the routing line.
  write_trace(dir_ / "traces/short.jsonl", 10);
  const std::string error = load_error(experiment(
      "deep.json", "{trace: traces/t.jsonl, layer_map: cycle, predictor_trace: traces/short.jsonl}"));
  EXPECT_THAT(error, HasSubstr("e.yaml:4:"));
  EXPECT_THAT(error, HasSubstr("routing.predictor_trace " + (dir_ / "traces/short.jsonl").string() +
                               " must record what routing.trace does (20 tokens"));
}

// Not replay, but this fixture's configs are real ones: --dry-run's estimate when no earlier run
// tells, from the bytes each run moves at the machine's rates.
TEST_F(ReplayExperimentTest, WithoutHistoryTheEstimateCountsEachRunsBytesAtTheRoofline) {
  ExperimentSpec spec = load(experiment("deep.json", "{trace: traces/t.jsonl, layer_map: cycle}", "cache: cold\n"));
  EXPECT_LT(estimate_plan(spec, nullptr).seconds, 0);  // no rates, no history: unknown
  RooflineRates rates{1.0, 20.0, 10.0, "test rates"};
  // deep.json at 4 bits: 40 x 16 experts x 3 x 64 x 64 x (0.5 + 1/16) = 4,423,680 bytes; resident
  // bf16: 2 tables of 64 x 64, 10 full-attention layers of 16,384 weights, 30 linear-attention
  // layers of 10,880, 40 shared experts of 12,288: 989,952 x 2 = 1,979,904 bytes.
  const ModelBytes bytes = recipe_bytes(spec.packs[0]);
  EXPECT_DOUBLE_EQ(bytes.experts, 4423680);
  EXPECT_DOUBLE_EQ(bytes.resident, 1979904);
  // A cold run feeds 3 + 4 - 1 tokens (+1: the last forward): per token K/16 of the experts from
  // the disk (1 GB/s) and the resident weights but the 64 x 64 bf16 embedding table from RAM (the
  // catalog's threads default is 1: one thread, 10 GB/s), plus the resident weights from the disk
  // once. base K = 4, top2 K = 2; 3 repeats each.
  const double per_token = 1979904 - 8192;
  const double base = 7 * (1105920 / 1e9 + per_token / 1e10) + 1979904 / 1e9;
  const double top2 = 7 * (552960 / 1e9 + per_token / 1e10) + 1979904 / 1e9;
  PlanEstimate e = estimate_plan(spec, nullptr, rates);
  EXPECT_NEAR(e.seconds, 3 * (base + top2), 1e-9);
  EXPECT_THAT(e.basis, HasSubstr("the bytes each run moves at the rates of test rates"));
  // Warm: everything at RAM's rate.
  spec.cache = CacheState::kWarm;
  EXPECT_NEAR(estimate_plan(spec, nullptr, rates).seconds,
              3 * 7 * ((1105920 + per_token) / 1e10 + (552960 + per_token) / 1e10), 1e-9);
}

TEST(ReplayEngine, TheTrainedModelsTraceDrivesADeeperSynthModel) {
  auto engine = testing::bin_dir() / "streammoe";
  auto lab = testing::bin_dir() / "streammoe-lab";
  if (!fs::exists(engine) || !fs::exists(lab)) GTEST_SKIP() << "needs " << engine << " and " << lab;
  TempDir dir;
  testing::write_text(dir / "replay.yaml", R"(name: replay
model: {synth: {like: tests/fixtures/configs/tiny_256e_12l.json, bits: 4}}
workload: {ids: [11, 42, 7], tokens: 4, ignore_eos: true}
routing: {trace: models/tiny-qwen35moe-256e/traces/heldout-4096.jsonl, layer_map: cycle, windows: 2}
repeats: 2
baseline: base
variants:
  - name: base
  - name: top4
    switches: {k: 4}
)");
  SubprocessExecutor executor;
  Command run;
  run.argv = {lab.string(), "run", (dir / "replay.yaml").string(), "--db", (dir / "lab.db").string(),
              "--engine", engine.string(), "--root", testing::source_dir().string(), "--models-dir",
              (dir / "models").string(), "--no-machine-profile"};
  run.timeout_s = 300;
  ExecResult ran = executor.execute(run);
  ASSERT_TRUE(ran.ok()) << describe(ran) << "\n" << ran.stderr_tail;
  EXPECT_THAT(ran.stdout_text, HasSubstr("4 runs planned, 4 run now, 0 already recorded, 0 failed"));
  Store store(dir / "lab.db");
  // The engine followed the trace: 12 layers x 8 (or 4) experts per token, as replayed.
  for (const auto& row : store.query("SELECT r.metrics_json, v.name FROM runs r JOIN variants v ON v.id = "
                                     "r.variant_id")) {
    json metrics = json::parse(to_text(row.values[0]));
    const double per_token = to_text(row.values[1]) == "top4" ? 12 * 4 : 12 * 8;
    EXPECT_LE(metrics["experts_loaded_per_token"].get<double>(), per_token) << metrics.dump();
    EXPECT_GT(metrics["experts_loaded_per_token"].get<double>(), 0);
    EXPECT_EQ(metrics["options"]["replay-routing"].get<std::string>().find((dir / "models/routing").string()), 0u);
  }
}

}  // namespace
}  // namespace streammoe::lab
