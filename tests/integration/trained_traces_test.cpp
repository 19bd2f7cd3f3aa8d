// The routing traces shipped with the trained models (models/<name>/traces/*.jsonl, written by
// `streammoe eval --record-routing` over the model's heldout.txt) are that model's routing: the
// header matches its config, a fresh recording of the first tokens gives the same experts and
// weights, and replaying the shipped trace reproduces the model's logits bit for bit. The lab
// replays these traces onto synth models, so a trace that drifted from its model would silently
// give the study the wrong routing. A trace recorded with other switches (e.g. `--routing early`)
// names them in a sibling <stem>.args file; the recordings and evaluations here use them too.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "engine/model/config.h"
#include "engine/models/routing_trace.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using namespace cli_test;

constexpr int64_t kCheckedTokens = 48;

struct ShippedTrace {
  std::string name;  // gtest-safe label
  fs::path model, trace;
  std::string args;  // the switches it was recorded with (<stem>.args), "" for the defaults
};

void PrintTo(const ShippedTrace& s, std::ostream* os) { *os << s.trace.string(); }

std::vector<ShippedTrace> shipped_traces() {
  std::vector<ShippedTrace> out;
  for (const auto& model : fs::directory_iterator(kSource / "models")) {
    if (!fs::is_directory(model.path() / "traces")) continue;
    for (const auto& entry : fs::directory_iterator(model.path() / "traces")) {
      if (entry.path().extension() != ".jsonl") continue;
      std::string label = model.path().filename().string() + "_" + entry.path().stem().string();
      for (char& c : label)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      std::string args;
      fs::path args_file = entry.path();
      if (std::ifstream in(args_file.replace_extension(".args")); in) std::getline(in, args);
      out.push_back({label, model.path(), entry.path(), args});
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

nlohmann::json header_of(const fs::path& trace) {
  std::ifstream in(trace);
  std::string line;
  std::getline(in, line);
  return nlohmann::json::parse(line);
}

class ShippedTraces : public ::testing::TestWithParam<ShippedTrace> {};

TEST_P(ShippedTraces, HeaderMatchesTheModel) {
  const ShippedTrace& s = GetParam();
  const ModelConfig config = load_config(s.model);
  const RoutingTrace trace = RoutingTrace::load(s.trace);
  const nlohmann::json header = header_of(s.trace);
  EXPECT_EQ(trace.layers(), config.num_layers);
  EXPECT_EQ(trace.experts(), config.num_experts);
  EXPECT_EQ(header.at("top_k").get<int64_t>(), config.experts_per_tok);
  EXPECT_GE(trace.tokens(), 1024) << "the lab needs at least 1024 tokens of routing";
  EXPECT_NO_THROW(trace.check_fits(config));
  for (int64_t t = 0; t < trace.tokens(); ++t)
    for (int64_t layer = 0; layer < trace.layers(); ++layer)
      ASSERT_EQ(static_cast<int64_t>(trace.at(t, layer).experts.size()), config.experts_per_tok)
          << s.trace << " token " << t << " layer " << layer;
}

TEST_P(ShippedTraces, FreshRecordingGivesTheSameRouting) {
  const ShippedTrace& s = GetParam();
  testing::TempDir dir("trace");
  const CommandResult r = run_streammoe("eval --model " + s.model.string() + " --text-file " +
                                        (s.model / "heldout.txt").string() + " --max-tokens " +
                                        std::to_string(kCheckedTokens) + " " + s.args +
                                        " --record-routing " + (dir / "fresh.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const RoutingTrace shipped = RoutingTrace::load(s.trace),
                     fresh = RoutingTrace::load(dir / "fresh.jsonl");
  ASSERT_EQ(fresh.tokens(), kCheckedTokens);
  for (int64_t t = 0; t < kCheckedTokens; ++t) {
    for (int64_t layer = 0; layer < shipped.layers(); ++layer) {
      const Routing &a = shipped.at(t, layer), &b = fresh.at(t, layer);
      ASSERT_EQ(a.experts, b.experts) << "token " << t << " layer " << layer;
      for (size_t k = 0; k < a.weights.size(); ++k)
        EXPECT_NEAR(a.weights[k], b.weights[k], 1e-6) << "token " << t << " layer " << layer;
    }
  }
}

TEST_P(ShippedTraces, ReplayReproducesTheModelsLogits) {
  const ShippedTrace& s = GetParam();
  testing::TempDir dir("replay");
  const std::string eval = "eval --model " + s.model.string() + " --text-file " +
                           (s.model / "heldout.txt").string() + " --max-tokens " +
                           std::to_string(kCheckedTokens) + " --dump-logits ";
  const CommandResult routed = run_streammoe(eval + (dir / "routed.npy").string() + " " + s.args);
  ASSERT_EQ(routed.exit_code, 0) << routed.output;
  const CommandResult replayed = run_streammoe(eval + (dir / "replayed.npy").string() +
                                               " --replay-routing " + s.trace.string());
  ASSERT_EQ(replayed.exit_code, 0) << replayed.output;
  const std::string a = read_bytes(dir / "routed.npy"), b = read_bytes(dir / "replayed.npy");
  ASSERT_GT(a.size(), 1000u);
  EXPECT_TRUE(a == b) << "replaying " << s.trace << " changed the logits";
}

INSTANTIATE_TEST_SUITE_P(Models, ShippedTraces, ::testing::ValuesIn(shipped_traces()),
                         [](const auto& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ShippedTraces);

TEST(ShippedTraces, The256ExpertModelShipsOne) {
  const auto traces = shipped_traces();
  EXPECT_TRUE(std::any_of(traces.begin(), traces.end(), [](const ShippedTrace& s) {
    return s.model.filename() == "tiny-qwen35moe-256e";
  }));
}

}  // namespace
}  // namespace streammoe
