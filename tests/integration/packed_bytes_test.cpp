// Bytes read per token: with no expert cache, every decode step reads exactly
// K x expert_bytes x (MoE layers) from the expert files, checked with the I/O counters of the
// source through generate() and the --metrics-json fields, for the packed source (pread and
// O_DIRECT, where O_DIRECT reads whole 4096-byte strides), with K overridden, and for the HF
// pread source (K x 3 x I x H x bytes per value).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "engine/convert/packed_writer.h"
#include "engine/convert/synth.h"
#include "engine/runtime/engine.h"
#include "engine/runtime/generator.h"
#include "engine/runtime/metrics.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;

nlohmann::json config() {
  // 4 layers, layer 2 dense: 3 MoE layers; 32 experts, K = 4.
  return {{"model_type", "qwen3_moe"},   {"vocab_size", 128},
          {"hidden_size", 128},          {"intermediate_size", 128},
          {"num_hidden_layers", 4},      {"num_attention_heads", 2},
          {"num_key_value_heads", 1},    {"head_dim", 64},
          {"num_experts", 32},           {"num_experts_per_tok", 4},
          {"moe_intermediate_size", 64}, {"mlp_only_layers", {2}},
          {"rms_norm_eps", 1e-6}};
}

class BytesPerToken : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("streammoe-bytes-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    write_packed_model(*make_synth_input(config(), {}, "bytes-test"), root_ / "packed", {});
    write_synth_hf(config(), {}, root_ / "hf");
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static GenerationResult run(Model& model, int64_t new_tokens) {
    ModelState state = model.new_state();
    Sampler sampler({});
    GenerationRequest req;
    req.prompt = {3, 14, 15, 92, 65};
    req.max_new_tokens = new_tokens;
    req.stop_at_eos = false;
    return generate(model, state, req, sampler);
  }

  static fs::path root_;
};
fs::path BytesPerToken::root_;

constexpr uint64_t kMoeLayers = 3, kK = 4;

TEST_F(BytesPerToken, PackedPreadReadsKExpertsPerMoeLayer) {
  Engine model_engine(root_ / "packed", EngineOptions{});
  Model* model = &model_engine.model();
  const uint64_t expert_bytes = make_expert_layout(128, 64, 4, 64).expert_bytes;
  const GenerationResult r = run(*model, 9);
  ASSERT_EQ(r.decode_ms.size(), 8u);
  EXPECT_EQ(r.decode_experts_loaded, 8 * kK * kMoeLayers);
  EXPECT_EQ(r.decode_expert_bytes, 8 * kK * expert_bytes * kMoeLayers);
  // The prompt's 5 steps and the 8 decode steps, nothing else.
  EXPECT_EQ(model->expert_io_stats().bytes_read, 13 * kK * expert_bytes * kMoeLayers);

  const nlohmann::json j = generation_metrics(r, *model, {}, {"m", 5, ""});
  EXPECT_DOUBLE_EQ(j["expert_bytes_read_per_token"].get<double>(),
                   double(kK * expert_bytes * kMoeLayers));
  EXPECT_DOUBLE_EQ(j["experts_loaded_per_token"].get<double>(), double(kK * kMoeLayers));
}

TEST_F(BytesPerToken, FollowsATopKOverride) {
  EngineOptions top7;
  top7.k = 7;
  Engine model_engine(root_ / "packed", top7);
  Model* model = &model_engine.model();
  const uint64_t expert_bytes = make_expert_layout(128, 64, 4, 64).expert_bytes;
  const GenerationResult r = run(*model, 4);
  EXPECT_EQ(r.decode_expert_bytes, 3 * 7 * expert_bytes * kMoeLayers);
}

TEST_F(BytesPerToken, DirectReadsWholeStrides) {
  EngineOptions direct;
  direct.io = IoMode::kDirect;
  std::unique_ptr<Engine> engine;
  Model* model = nullptr;
  try {
    engine = std::make_unique<Engine>(root_ / "packed", direct);
    model = &engine->model();
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  const uint64_t stride = make_expert_layout(128, 64, 4, 64).expert_stride;
  const GenerationResult r = run(*model, 5);
  EXPECT_EQ(r.decode_expert_bytes, 4 * kK * stride * kMoeLayers);
}

// Mapped expert files are not read but touched: each fetched expert counts its record's bytes,
// split by residency before the touch, as a read does.
TEST_F(BytesPerToken, PackedMmapCountsTheTouchedRecords) {
  EngineOptions mmap;
  mmap.io = IoMode::kMmap;
  Engine engine(root_ / "packed", mmap);
  const uint64_t expert_bytes = make_expert_layout(128, 64, 4, 64).expert_bytes;
  const GenerationResult r = run(engine.model(), 9);
  EXPECT_EQ(r.decode_expert_bytes, 8 * kK * expert_bytes * kMoeLayers);
  const ExpertIoStats& s = engine.model().expert_io_stats();
  EXPECT_EQ(s.bytes_from_page_cache + s.bytes_from_disk, s.bytes_read);
}

TEST_F(BytesPerToken, HfPreadReadsTheBf16Matrices) {
  Engine model_engine(root_ / "hf", EngineOptions{});
  Model* model = &model_engine.model();
  const GenerationResult r = run(*model, 5);
  EXPECT_EQ(r.decode_expert_bytes, 4 * kK * (3 * 64 * 128 * 2) * kMoeLayers);
}

// A chunk of the prompt reads each distinct expert routed in it once per MoE layer: the expert
// counter grows by the number of distinct (layer, expert) pairs of the chunk's routing, and the
// bytes by that many records.
TEST_F(BytesPerToken, ChunkedPrefillReadsEachDistinctExpertOnce) {
  Engine engine(root_ / "packed", EngineOptions{});
  Model& model = engine.model();
  const uint64_t expert_bytes = make_expert_layout(128, 64, 4, 64).expert_bytes;
  std::vector<int32_t> prompt(40);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 37 + 11) % 128);
  ModelState state = model.new_state();
  std::vector<float> logits(128);
  uint64_t token_by_token = 0;
  for (size_t first = 0; first < prompt.size(); first += 16) {
    const std::span<const int32_t> chunk = std::span(prompt).subspan(first, std::min<size_t>(16, prompt.size() - first));
    const ExpertIoStats before = model.expert_io_stats();
    model.forward(state, chunk, logits);
    uint64_t distinct = 0;
    for (int64_t layer = 0; layer < 4; ++layer) {
      std::set<int32_t> experts;
      for (size_t row = 0; row < chunk.size(); ++row) {
        const Routing r = model.last_routing(static_cast<int64_t>(row))[layer];
        experts.insert(r.experts.begin(), r.experts.end());
      }
      distinct += experts.size();
    }
    const ExpertIoStats& after = model.expert_io_stats();
    EXPECT_EQ(after.experts_loaded - before.experts_loaded, distinct) << "chunk at " << first;
    EXPECT_EQ(after.bytes_read - before.bytes_read, distinct * expert_bytes) << "chunk at " << first;
    token_by_token += chunk.size() * kK * kMoeLayers;
  }
  // 40 tokens x 4 experts x 3 layers routed among 32 experts per layer: sharing must show.
  EXPECT_LT(model.expert_io_stats().experts_loaded, token_by_token / 2);
}

TEST_F(BytesPerToken, PackedAndHfAgreeOnParamCounts) {
  Engine packed_engine(root_ / "packed", EngineOptions{});
  Model* packed = &packed_engine.model();
  Engine hf_engine(root_ / "hf", EngineOptions{});
  Model* hf = &hf_engine.model();
  EXPECT_EQ(packed->params_total(), hf->params_total());
  EXPECT_EQ(packed->params_active(), hf->params_active());
}

}  // namespace
}  // namespace streammoe
