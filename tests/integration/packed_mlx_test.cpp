// A model packed from an MLX 4-bit checkpoint computes what its Hugging Face twin computes (the
// twin holds q * scale + bias exactly; see tools/make_mlx_fixture.py): teacher-forced logits
// within 1e-3 x max(1, |ref|) and the same argmax at every position, and the same greedy tokens;
// with its resident weights dequantised (the default). With their 4-bit codes kept
// (--resident-bits 4) the model computes exact q * scale + bias where the twin holds those values
// rounded to bf16 (each within 2^-9 relative of its value, which these random-weight fixtures
// amplify to logit differences of 0.02-0.08 over 40 positions): the reference is then the f32
// dequantisation of its own codes, matched to 1e-3 (and the codes are MLX's byte for byte:
// tests/unit/convert/mlx_pack_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/convert/pack.h"
#include "engine/runtime/engine.h"
#include "engine/runtime/evaluator.h"
#include "engine/runtime/generator.h"
#include "resident_test_util.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
const fs::path kMlx = fs::path(STREAMMOE_SOURCE_DIR) / "tests/fixtures/mlx";

// Teacher-forced logits of `got` within tolerance x max(1, |ref|) of `ref`'s, same argmax.
void expect_same_logits(Model& got_model, Model& ref_model, double tolerance) {
  const int64_t vocab = ref_model.config().vocab_size;
  std::vector<int32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(static_cast<int32_t>((i * 37 + 11) % vocab));
  const std::vector<float> ref = teacher_forced_logits(ref_model, ids);
  const std::vector<float> got = teacher_forced_logits(got_model, ids);
  ASSERT_EQ(ref.size(), got.size());
  for (size_t t = 0; t < ids.size(); ++t) {
    size_t best_ref = 0, best_got = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      const size_t i = t * vocab + v;
      ASSERT_NEAR(got[i], ref[i], tolerance * std::max(1.0f, std::fabs(ref[i])))
          << "position " << t << " token " << v;
      if (ref[i] > ref[t * vocab + best_ref]) best_ref = v;
      if (got[i] > got[t * vocab + best_got]) best_got = v;
    }
    EXPECT_EQ(best_got, best_ref) << "position " << t;
  }
}

class PackedMlx : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(PackedMlx, MatchesTheDequantisedTwin) {
  const auto [name, resident_bits] = GetParam();
  const fs::path out = fs::temp_directory_path() /
                       ("streammoe-mlx-" + name + "-r" + std::to_string(resident_bits) + "-" +
                        std::to_string(::getpid()));
  fs::remove_all(out);
  PackRequest req;
  req.input = kMlx / name;
  req.output = out;
  req.resident_bits = resident_bits;
  EXPECT_EQ(pack_model(req).resident_codes_kept, resident_bits == 4);
  Engine packed_engine(out, EngineOptions{});
  if (resident_bits == 16) {
    Engine twin_engine(kMlx / (name + "_hf"), EngineOptions{});
    expect_same_logits(packed_engine.model(), twin_engine.model(), 1e-3);
  } else {
    const fs::path f32 = resident_test::dequantised_copy(out, out.string() + "-f32");
    Engine f32_engine(f32, EngineOptions{});
    expect_same_logits(packed_engine.model(), f32_engine.model(), 1e-3);
    fs::remove_all(f32);
  }
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PackedMlx,
                         ::testing::Combine(::testing::Values("q35_mlx4", "q3moe_mlx4"),
                                            ::testing::Values(16, 4)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_resident" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace streammoe
