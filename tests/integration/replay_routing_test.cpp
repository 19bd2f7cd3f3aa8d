// Switches under --replay-routing on the packed trained tiny model (top-8 of 32 experts):
//   --k N keeps the first N of each replayed routing, with the weights renormalised as the router
//     renormalises its top-K (checked through --record-routing of the replayed run); N above the
//     trace's K is refused; the oracle predictor reading the trace predicts the same first N;
//   --routing early prefetches the next MoE layer's replayed choice one layer ahead: the same
//     reads as the oracle predictor reading the replayed trace, every one of them used, and the
//     same tokens as the replay alone. Without replay it prefetches its own early decision;
//   the predictor's precision and recall in --metrics-json, on oracles that know half or twice
//     what is routed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "engine/model/config.h"
#include "engine/models/routing_trace.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using namespace cli_test;

class ReplaySwitches : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>("replay-switches");
    const CommandResult pack = run_streammoe("pack --hf " + kTiny.string() + " --out " + packed().string());
    ASSERT_EQ(pack.exit_code, 0) << pack.output;
    const CommandResult eval_rec = eval("--record-routing " + path("eval.jsonl"), "base.npy");
    ASSERT_EQ(eval_rec.exit_code, 0) << eval_rec.output;
    const CommandResult gen_rec = generate("--record-routing " + path("generate.jsonl"));
    ASSERT_EQ(gen_rec.exit_code, 0) << gen_rec.output;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static fs::path packed() { return dir_->path() / "p4"; }
  static std::string path(const std::string& name) { return (dir_->path() / name).string(); }
  static CommandResult eval(const std::string& switches, const std::string& logits) {
    return run_streammoe("eval --model " + packed().string() + " --text-file " + (kTiny / "heldout.txt").string() +
                         " --max-tokens 24 --dump-logits " + path(logits) + " " + switches);
  }
  static CommandResult generate(const std::string& switches) {
    return run_streammoe("generate --model " + packed().string() +
                         " --ids 1,5,9,2 --tokens 10 --ignore-eos --print-ids --metrics-json " + path("m.json") + " " +
                         switches);
  }
  // generate's printed ids and its metrics' routing telemetry.
  static std::pair<std::string, nlohmann::json> generated(const std::string& switches) {
    const CommandResult r = generate(switches);
    EXPECT_EQ(r.exit_code, 0) << switches << "\n" << r.output;
    return {r.output, nlohmann::json::parse(read_bytes(path("m.json")))["routing"]};
  }
  static std::unique_ptr<testing::TempDir> dir_;
};
std::unique_ptr<testing::TempDir> ReplaySwitches::dir_;

TEST_F(ReplaySwitches, KKeepsTheFirstKOfEachReplayedRoutingRenormalised) {
  const CommandResult r = eval("--replay-routing " + path("eval.jsonl") + " --k 4 --record-routing " + path("k4.jsonl"),
                               "k4.npy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const RoutingTrace full = RoutingTrace::load(path("eval.jsonl")), cut = RoutingTrace::load(path("k4.jsonl"));
  ASSERT_EQ(full.top_k(), 8);
  EXPECT_EQ(cut.top_k(), 4);
  ASSERT_EQ(cut.tokens(), full.tokens());
  const ModelConfig config = load_config(kTiny);
  ASSERT_TRUE(config.norm_topk_prob);
  int64_t checked = 0;
  for (int64_t t = 0; t < full.tokens(); ++t)
    for (int64_t l = 0; l < config.num_layers; ++l) {
      if (config.ffn_types[l] != FfnKind::kMoe) continue;
      const Routing& a = full.at(t, l);
      const Routing& b = cut.at(t, l);
      ASSERT_EQ(b.experts, std::vector<int32_t>(a.experts.begin(), a.experts.begin() + 4)) << t << " " << l;
      float kept = 0, sum = 0;
      for (int i = 0; i < 4; ++i) kept += a.weights[i];
      for (int i = 0; i < 4; ++i) {
        EXPECT_NEAR(b.weights[i], a.weights[i] / kept, 1e-6) << t << " " << l;
        sum += b.weights[i];
      }
      EXPECT_NEAR(sum, 1.0f, 1e-6);
      ++checked;
    }
  EXPECT_GT(checked, 100);
  // Fewer experts, other logits; --k 8 (the trace's K) is the replay itself, bit for bit.
  EXPECT_NE(read_bytes(path("k4.npy")), read_bytes(path("base.npy")));
  ASSERT_EQ(eval("--replay-routing " + path("eval.jsonl") + " --k 8", "k8.npy").exit_code, 0);
  EXPECT_TRUE(read_bytes(path("k8.npy")) == read_bytes(path("base.npy")));
}

TEST_F(ReplaySwitches, KAboveTheTracesKIsRefused) {
  const CommandResult r = eval("--replay-routing " + path("eval.jsonl") + " --k 9", "k9.npy");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--k 9 with --replay-routing " + path("eval.jsonl")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("top 8"), std::string::npos) << r.output;
}

// The oracle predictor reading the replayed trace predicts what the run routes to: the first k.
TEST_F(ReplaySwitches, OraclePredictorKeepsTheFirstKToo) {
  const std::string trace = path("generate.jsonl");
  const std::string oracle = " --predictor oracle --predictor-trace " + trace +
                             " --prefetch async --expert-cache lru --cache-entries 100000 --overlap serial";
  const auto [ids8, k8] = generated("--replay-routing " + trace + oracle);
  const auto [ids4, k4] = generated("--replay-routing " + trace + " --k 4" + oracle);
  EXPECT_DOUBLE_EQ(k4["predictor"]["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(k4["predictor"]["recall"].get<double>(), 1.0);
  EXPECT_EQ(k4["prefetch"]["used"], k4["prefetch"]["experts"]);
  EXPECT_GT(k8["prefetch"]["requests"].get<int64_t>(), 0);
  EXPECT_EQ(k4["prefetch"]["requests"].get<int64_t>() * 2, k8["prefetch"]["requests"].get<int64_t>());
}

// --predict-k N: a prediction names the predictor's N most likely experts. The oracle reading the
// run's own trace then stays right on all it names (precision 1) and names N of the K routed
// (recall N/K); the prefetch asks for N experts per layer; the output does not change.
TEST_F(ReplaySwitches, PredictKNamesTheFirstNOfEachPrediction) {
  const std::string trace = path("generate.jsonl");
  const std::string oracle =
      " --predictor oracle --predictor-trace " + trace +
      " --prefetch async --expert-cache lru --cache-entries 100000 --overlap serial";
  const auto [ids8, k8] = generated("--replay-routing " + trace + oracle);
  const auto [ids3, k3] = generated("--replay-routing " + trace + oracle + " --predict-k 3");
  EXPECT_EQ(ids3, ids8);
  EXPECT_DOUBLE_EQ(k3["predictor"]["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(k3["predictor"]["recall"].get<double>(), 3.0 / 8.0);
  EXPECT_GT(k8["prefetch"]["requests"].get<int64_t>(), 0);
  EXPECT_EQ(k3["prefetch"]["requests"].get<int64_t>() * 8,
            k8["prefetch"]["requests"].get<int64_t>() * 3);
}

TEST_F(ReplaySwitches, EarlyRoutingPrefetchesTheNextLayersReplayedChoice) {
  const std::string replay = "--replay-routing " + path("generate.jsonl");
  // Serial: each prefetch completes before the layer computes, so the counts do not race.
  const std::string prefetch = " --prefetch async --expert-cache lru --cache-entries 100000 --overlap serial";
  for (const std::string k : {"", " --k 4"}) {
    SCOPED_TRACE(k);
    const auto [ids, plain] = generated(replay + k);
    const auto [early_ids, early] = generated(replay + k + " --routing early" + prefetch);
    const auto [oracle_ids, oracle] =
        generated(replay + k + " --predictor oracle --predictor-trace " + path("generate.jsonl") + prefetch);
    EXPECT_EQ(early_ids, ids);  // the routing is the replay's
    const auto& p = early["prefetch"];
    EXPECT_GT(p["requests"].get<int64_t>(), 0);
    EXPECT_EQ(p["used"], p["experts"]);  // the decision, not a guess: every read is used
    EXPECT_EQ(p["unused_bytes"], 0);
    for (const char* key : {"requests", "experts", "bytes", "used"}) EXPECT_EQ(p[key], oracle["prefetch"][key]) << key;
    EXPECT_EQ(early["predictor"]["kind"], "none");
  }
  EXPECT_EQ(generated(replay + " --k 4 --routing early" + prefetch).second["prefetch"]["requests"].get<int64_t>() * 2,
            generated(replay + " --routing early" + prefetch).second["prefetch"]["requests"].get<int64_t>());
}

TEST_F(ReplaySwitches, EarlyRoutingWithoutReplayPrefetchesItsOwnDecision) {
  const auto [ids, plain] = generated("--routing early");
  const auto [prefetched_ids, prefetched] =
      generated("--routing early --prefetch async --expert-cache lru --cache-entries 100000 --overlap serial");
  EXPECT_EQ(prefetched_ids, ids);  // prefetching is lossless
  const auto& p = prefetched["prefetch"];
  EXPECT_GT(p["experts"].get<int64_t>(), 0);
  EXPECT_EQ(p["used"], p["experts"]);
  EXPECT_EQ(plain["prefetch"]["requests"], 0);
}

TEST_F(ReplaySwitches, EarlyRoutingTakesNoPredictor) {
  const CommandResult r = generate("--routing early --predictor temporal --prefetch willneed");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--predictor temporal with --routing early"), std::string::npos) << r.output;
  const CommandResult alone = generate("--prefetch willneed");
  EXPECT_EQ(alone.exit_code, 1) << alone.output;
  EXPECT_NE(alone.output.find("needs a --predictor"), std::string::npos) << alone.output;
  EXPECT_EQ(generate("--routing early --prefetch willneed").exit_code, 0);
}

// The predictor's scores in --metrics-json on a case with a known answer: under replay of a K=8
// trace, an oracle reading the same routing cut to its first 4 predicts half of what is routed,
// all of it right (precision 1, recall 1/2); the other way round it predicts twice what is routed
// (precision 1/2, recall 1).
TEST_F(ReplaySwitches, PredictorPrecisionAndRecallOnAKnownCase) {
  const std::string full = path("generate.jsonl"), half = path("generate_k4.jsonl");
  ASSERT_EQ(generate("--replay-routing " + full + " --k 4 --record-routing " + half).exit_code, 0);
  const auto [ids, narrow] = generated("--replay-routing " + full + " --predictor oracle --predictor-trace " + half);
  const auto& p = narrow["predictor"];
  EXPECT_GT(p["predicted_experts"].get<int64_t>(), 0);
  EXPECT_EQ(p["correct"], p["predicted_experts"]);
  EXPECT_EQ(p["routed_experts_predicted_layers"].get<int64_t>(), 2 * p["predicted_experts"].get<int64_t>());
  EXPECT_DOUBLE_EQ(p["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(p["recall"].get<double>(), 0.5);
  const auto [ids4, wide] = generated("--replay-routing " + half + " --predictor oracle --predictor-trace " + full);
  EXPECT_DOUBLE_EQ(wide["predictor"]["precision"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(wide["predictor"]["recall"].get<double>(), 1.0);
}

}  // namespace
}  // namespace streammoe
