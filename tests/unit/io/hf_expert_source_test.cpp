// HfExpertSource (pread at safetensors offsets) hands out the same matrices as the mmap views of
// MmapExpertSource, for both expert layouts, and counts the bytes it reads.
#include "engine/io/hf_expert_source.h"

#include <gtest/gtest.h>

#include <cstring>

#include "engine/convert/synth.h"
#include "engine/io/mmap_expert_source.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using testing::TempDir;

nlohmann::json config() {
  return {{"model_type", "qwen3_moe"},
          {"vocab_size", 64},
          {"hidden_size", 64},
          {"intermediate_size", 32},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"head_dim", 32},
          {"num_experts", 6},
          {"num_experts_per_tok", 2},
          {"moe_intermediate_size", 32},
          {"rms_norm_eps", 1e-6}};
}

bool same_matrix(const LinearRef& a, const LinearRef& b) {
  if (a.quantized() || b.quantized() || a.dense.dtype != b.dense.dtype || a.rows() != b.rows() ||
      a.cols() != b.cols())
    return false;
  return std::memcmp(a.dense.data, b.dense.data, a.rows() * a.cols() * dtype_size(a.dense.dtype)) ==
         0;
}

class HfSource : public ::testing::TestWithParam<HfExpertLayout> {};

TEST_P(HfSource, MatchesTheMmapViews) {
  TempDir dir("hf-source");
  write_synth_hf(config(), {}, dir / "hf", GetParam());
  const ModelConfig c = load_config(dir / "hf");
  const TensorStore store = TensorStore::open(dir / "hf");
  const WeightLoader w(store, c.tensor_prefix);
  MmapExpertSource reference(w, c);
  HfExpertSource source(w, c, {}, 2);
  const int32_t experts[] = {5, 0, 3};
  std::vector<ExpertWeights> expected(3), got(3);
  for (int64_t layer : {0, 1}) {
    reference.fetch(layer, experts, expected);
    source.fetch(layer, experts, got);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_TRUE(same_matrix(got[i].gate, expected[i].gate)) << layer << " " << i;
      EXPECT_TRUE(same_matrix(got[i].up, expected[i].up)) << layer << " " << i;
      EXPECT_TRUE(same_matrix(got[i].down, expected[i].down)) << layer << " " << i;
    }
  }
  EXPECT_EQ(source.stats().experts_loaded, 6u);
  EXPECT_EQ(source.stats().bytes_read, 6u * 3 * 32 * 64 * 2);  // bf16 gate, up, down
}

INSTANTIATE_TEST_SUITE_P(Layouts, HfSource,
                         ::testing::Values(HfExpertLayout::kFused, HfExpertLayout::kPerExpert));

}  // namespace
}  // namespace streammoe
