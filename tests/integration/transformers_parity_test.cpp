// Whole-model parity with Hugging Face transformers on the reference fixtures
// (tests/fixtures/reference/<name>/, made by tools/make_fixtures.py and tools/train_tiny_moe.py,
// the latter for the trained models tiny-qwen35moe and tiny-qwen35moe-256e):
// teacher-forced logits within 1e-3 x max(1, |ref|) with the same argmax at every position, and
// greedy continuations identical token for token.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/runtime/engine.h"
#include "engine/runtime/evaluator.h"
#include "engine/runtime/generator.h"
#include "engine/util/npy.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = fs::path(STREAMMOE_SOURCE_DIR) / "tests" / "fixtures";

// Every fixture: a reference folder with logits.npy, and its model folder.
struct Fixture {
  std::string name;
  fs::path model;
  fs::path reference;
};

std::vector<Fixture> fixtures() {
  std::vector<Fixture> out;
  const fs::path refs = kFixtures / "reference";
  if (!fs::exists(refs)) return out;
  for (const auto& entry : fs::directory_iterator(refs)) {
    if (!fs::exists(entry.path() / "logits.npy")) continue;
    const std::string name = entry.path().filename().string();
    fs::path model = kFixtures / "models" / name;
    if (!fs::exists(model)) model = fs::path(STREAMMOE_SOURCE_DIR) / "models" / name;
    out.push_back({name, model, entry.path()});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

std::vector<int32_t> as_ids(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }

std::vector<int32_t> greedy(Model& model, const std::vector<int32_t>& prompt, int64_t n, int64_t prefill_chunk = 1) {
  ModelState state = model.new_state();
  Sampler sampler({});
  GenerationRequest req;
  req.prompt = prompt;
  req.max_new_tokens = n;
  req.stop_at_eos = false;
  req.prefill_chunk = prefill_chunk;
  return generate(model, state, req, sampler).output_ids;
}

class Parity : public ::testing::TestWithParam<Fixture> {};

TEST_P(Parity, TeacherForcedLogitsMatchTransformers) {
  const Fixture& f = GetParam();
  Engine model_engine(f.model, EngineOptions{});
  Model* model = &model_engine.model();
  const auto ids = as_ids(read_npy(f.reference / "input_ids.npy").i64);
  const NpyArray ref = read_npy(f.reference / "logits.npy");
  const int64_t vocab = model->config().vocab_size;
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{static_cast<int64_t>(ids.size()), vocab}));
  const std::vector<float> logits = teacher_forced_logits(*model, ids);
  double worst = 0.0;
  int64_t worst_at = -1;
  for (size_t t = 0; t < ids.size(); ++t) {
    for (int64_t v = 0; v < vocab; ++v) {
      const float r = ref.f32[t * vocab + v], got = logits[t * vocab + v];
      const double excess = std::abs(got - r) / (1e-3 * std::max(1.0f, std::abs(r)));
      if (excess > worst) worst = excess, worst_at = static_cast<int64_t>(t * vocab + v);
    }
    std::span<const float> row(logits.data() + t * vocab, vocab), ref_row(ref.f32.data() + t * vocab, vocab);
    EXPECT_EQ(argmax(row), argmax(ref_row)) << f.name << " position " << t;
  }
  std::printf("%s: worst |logit - ref| = %.4f x tolerance (1e-3 x max(1, |ref|))\n", f.name.c_str(), worst);
  EXPECT_LE(worst, 1.0) << f.name << ": worst |logit - ref| is " << worst
                        << " x the tolerance, at position " << worst_at / vocab << " token " << worst_at % vocab;
}

TEST_P(Parity, GreedyContinuationMatchesTransformers) {
  const Fixture& f = GetParam();
  Engine model_engine(f.model, EngineOptions{});
  Model* model = &model_engine.model();
  if (fs::exists(f.reference / "greedy_ids.npy")) {
    const auto prompt = as_ids(read_npy(f.reference / "input_ids.npy").i64);
    const auto expected = as_ids(read_npy(f.reference / "greedy_ids.npy").i64);
    EXPECT_EQ(greedy(*model, prompt, static_cast<int64_t>(expected.size())), expected) << f.name;
  }
  if (fs::exists(f.reference / "prompts.json")) {
    std::ifstream in(f.reference / "prompts.json");
    const nlohmann::json prompts = nlohmann::json::parse(in);
    const auto& list = prompts.is_array() ? prompts : prompts.at("prompts");
    ASSERT_FALSE(list.empty());
    for (const auto& p : list) {
      const auto prompt = p.at("prompt_ids").get<std::vector<int32_t>>();
      const auto expected = p.at("greedy_ids").get<std::vector<int32_t>>();
      EXPECT_EQ(greedy(*model, prompt, static_cast<int64_t>(expected.size())), expected)
          << f.name << " prompt " << p.value("prompt", std::string());
    }
  }
}

// Batched (chunked, expert-major) prefill against token-by-token: the same logits bit for bit at
// every position, for chunks that divide the sequence and chunks that do not, and the same greedy
// continuation as transformers.
TEST_P(Parity, ChunkedPrefillMatchesTokenByToken) {
  const Fixture& f = GetParam();
  Engine engine(f.model, EngineOptions{});
  Model& model = engine.model();
  const auto ids = as_ids(read_npy(f.reference / "input_ids.npy").i64);
  const std::vector<float> one = teacher_forced_logits(model, ids);
  for (int64_t chunk : {int64_t{2}, int64_t{7}, static_cast<int64_t>(ids.size())}) {
    const std::vector<float> chunked = teacher_forced_logits(model, ids, {}, chunk);
    ASSERT_EQ(chunked.size(), one.size());
    EXPECT_EQ(std::memcmp(chunked.data(), one.data(), one.size() * sizeof(float)), 0) << f.name << " chunk " << chunk;
  }
  // Larger fetches (more reads in flight) change nothing but the I/O pattern.
  EngineOptions wide;
  wide.fetch_batch = 40;
  Engine wide_engine(f.model, wide);
  const std::vector<float> wide_logits = teacher_forced_logits(wide_engine.model(), ids, {}, static_cast<int64_t>(ids.size()));
  ASSERT_EQ(wide_logits.size(), one.size());
  EXPECT_EQ(std::memcmp(wide_logits.data(), one.data(), one.size() * sizeof(float)), 0) << f.name << " fetch batch 40";
  // A prompt's earlier chunks skip lm_head (empty logits): the last position's logits are the same.
  const int64_t V = model.config().vocab_size, n = static_cast<int64_t>(ids.size());
  ModelState state = model.new_state();
  std::vector<float> last(V);
  model.forward(state, std::span(ids).first(n - 1), {});
  model.forward(state, ids.back(), last);
  EXPECT_EQ(std::memcmp(last.data(), one.data() + (n - 1) * V, V * sizeof(float)), 0) << f.name;
  if (fs::exists(f.reference / "greedy_ids.npy")) {
    const auto expected = as_ids(read_npy(f.reference / "greedy_ids.npy").i64);
    EXPECT_EQ(greedy(model, ids, static_cast<int64_t>(expected.size()), 16), expected) << f.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity, ::testing::ValuesIn(fixtures()),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');  // gtest names: [A-Za-z0-9_]
                           return name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Parity);

TEST(Fixtures, AreCommitted) { EXPECT_GE(fixtures().size(), 5u) << "tests/fixtures/reference is incomplete"; }

// The trained models (models/<name>, references from tools/train_tiny_moe.py) are checked like the
// random fixtures; a missing reference folder would otherwise just shrink the suite.
TEST(Fixtures, TrainedModelsAreChecked) {
  const auto all = fixtures();
  for (const std::string name : {"tiny-qwen35moe", "tiny-qwen35moe-256e"}) {
    const auto it =
        std::find_if(all.begin(), all.end(), [&](const Fixture& f) { return f.name == name; });
    ASSERT_NE(it, all.end()) << "tests/fixtures/reference/" << name << " is missing";
    EXPECT_TRUE(fs::exists(it->model / "model.safetensors")) << it->model;
    EXPECT_TRUE(fs::exists(it->reference / "prompts.json")) << it->reference;
  }
}

}  // namespace
}  // namespace streammoe
