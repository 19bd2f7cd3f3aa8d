// The resident formats --resident-bits names, which roles they quantise, and the names and shapes
// a quantised tensor is stored under.
#include "engine/models/resident_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "tests/common/error_of.h"

namespace streammoe {
namespace {

using R = TensorRole;
using ::testing::HasSubstr;
using streammoe::testing::error_of;

TEST(ResidentFormat, BitsNameTheFormats) {
  EXPECT_FALSE(resident_format_for_bits(16).quantized());
  const ResidentFormat eight = resident_format_for_bits(8);
  EXPECT_EQ(eight.bits, 8);
  EXPECT_EQ(eight.group_size, 64);
  EXPECT_EQ(eight.scheme, QuantScheme::kSymmetric);
  const ResidentFormat four = resident_format_for_bits(4);
  EXPECT_EQ(four.bits, 4);
  EXPECT_EQ(four.group_size, 64);
  EXPECT_EQ(four.scheme, QuantScheme::kAffine);  // the experts' MLX layout
  for (int bits : {3, 2, 0, 32, -8})
    EXPECT_THAT(error_of([&] { resident_format_for_bits(bits); }),
                AllOf(HasSubstr(std::to_string(bits)), HasSubstr("16, 8 or 4")));
}

TEST(ResidentFormat, ChecksWhatAManifestMaySay) {
  EXPECT_NO_THROW(check_resident_format({8, 32, QuantScheme::kAffine}, "m"));
  EXPECT_NO_THROW(check_resident_format({4, 128, QuantScheme::kAffine}, "m"));
  EXPECT_THAT(error_of([] {
                check_resident_format({4, 64, QuantScheme::kSymmetric}, "m.json");
              }),
              AllOf(HasSubstr("m.json"), HasSubstr("symmetric"), HasSubstr("8-bit only")));
  EXPECT_THAT(error_of([] {
                check_resident_format({8, 48, QuantScheme::kAffine}, "m.json");
              }),
              AllOf(HasSubstr("m.json"), HasSubstr("48")));
  EXPECT_THAT(error_of([] {
                check_resident_format({2, 64, QuantScheme::kAffine}, "m.json");
              }),
              HasSubstr("resident bits 2"));
}

TEST(ResidentFormat, QuantisesLinearWeightsAndTheEmbeddingOnly) {
  for (R role :
       {R::kEmbed, R::kLmHead, R::kQProj, R::kKProj, R::kVProj, R::kOProj, R::kLinearQkvProj,
        R::kLinearZProj, R::kLinearBProj, R::kLinearAProj, R::kLinearOutProj, R::kMlpGate,
        R::kMlpUp, R::kMlpDown, R::kSharedGate, R::kSharedUp, R::kSharedDown})
    EXPECT_TRUE(is_quantizable_resident(role)) << static_cast<int>(role);
  // Norms, the conv and the recurrence's parameters, the routers; experts are not resident.
  for (R role : {R::kFinalNorm, R::kInputNorm, R::kPostAttentionNorm, R::kQNorm, R::kKNorm,
                 R::kLinearNorm, R::kLinearConv1d, R::kLinearALog, R::kLinearDtBias, R::kRouter,
                 R::kSharedExpertGate, R::kExpertGate, R::kExpertsGateUp, R::kMlxExpertsDown})
    EXPECT_FALSE(is_quantizable_resident(role)) << static_cast<int>(role);
}

TEST(ResidentFormat, KeepsWhatTheGroupSizeDoesNotDivide) {
  const ResidentFormat eight = resident_format_for_bits(8);
  EXPECT_EQ(resident_quant(eight, R::kQProj, {256, 128})->bits, 8);
  EXPECT_FALSE(resident_quant(eight, R::kQProj, {256, 96}));  // 96 columns: groups of 64 do not fit
  EXPECT_FALSE(resident_quant(eight, R::kRouter, {64, 128}));
  EXPECT_FALSE(resident_quant(ResidentFormat{}, R::kQProj, {256, 128}));
  EXPECT_FALSE(resident_quant(eight, R::kQProj, {256}));
}

TEST(ResidentFormat, StoredNamesAndShapes) {
  EXPECT_EQ(quant_scales_name("model.layers.0.self_attn.q_proj.weight"),
            "model.layers.0.self_attn.q_proj.scales");
  EXPECT_EQ(quant_biases_name("lm_head.weight"), "lm_head.biases");
  EXPECT_EQ(quant_scales_name("odd"), "odd.scales");
  const QuantFormat four{4, 64, QuantScheme::kAffine}, eight{8, 32, QuantScheme::kSymmetric};
  EXPECT_EQ(quant_codes_shape({6144, 192}, four), (TensorShape{6144, 24}));
  EXPECT_EQ(quant_groups_shape({6144, 192}, four), (TensorShape{6144, 3}));
  EXPECT_EQ(quant_codes_shape({16, 128}, eight), (TensorShape{16, 32}));
  EXPECT_EQ(quant_groups_shape({16, 128}, eight), (TensorShape{16, 4}));
}

}  // namespace
}  // namespace streammoe
