// A model packed from an MLX 4-bit checkpoint computes what its Hugging Face twin computes (the
// twin holds q * scale + bias exactly; see tools/make_mlx_fixture.py): teacher-forced logits
// within 1e-3 x max(1, |ref|) and the same argmax at every position, and the same greedy tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/convert/pack.h"
#include "engine/runtime/engine.h"
#include "engine/runtime/evaluator.h"
#include "engine/runtime/generator.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
const fs::path kMlx = fs::path(STREAMMOE_SOURCE_DIR) / "tests/fixtures/mlx";

class PackedMlx : public ::testing::TestWithParam<std::string> {};

TEST_P(PackedMlx, MatchesTheDequantisedTwin) {
  const std::string name = GetParam();
  const fs::path out =
      fs::temp_directory_path() / ("streammoe-mlx-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(out);
  PackRequest req;
  req.input = kMlx / name;
  req.output = out;
  pack_model(req);
  Engine packed_engine(out, EngineOptions{});
  Model* packed = &packed_engine.model();
  Engine twin_engine(kMlx / (name + "_hf"), EngineOptions{});
  Model* twin = &twin_engine.model();
  const int64_t vocab = twin->config().vocab_size;
  std::vector<int32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(static_cast<int32_t>((i * 37 + 11) % vocab));
  const std::vector<float> ref = teacher_forced_logits(*twin, ids);
  const std::vector<float> got = teacher_forced_logits(*packed, ids);
  ASSERT_EQ(ref.size(), got.size());
  for (size_t t = 0; t < ids.size(); ++t) {
    size_t best_ref = 0, best_got = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      const size_t i = t * vocab + v;
      ASSERT_NEAR(got[i], ref[i], 1e-3 * std::max(1.0f, std::fabs(ref[i])))
          << "position " << t << " token " << v;
      if (ref[i] > ref[t * vocab + best_ref]) best_ref = v;
      if (got[i] > got[t * vocab + best_got]) best_got = v;
    }
    EXPECT_EQ(best_got, best_ref) << "position " << t;
  }
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PackedMlx, ::testing::Values("q35_mlx4", "q3moe_mlx4"));

}  // namespace
}  // namespace streammoe
