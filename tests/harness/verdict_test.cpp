// keep / discard / crash decisions on hand-made samples.
#include "harness/verdict.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;

VariantSamples samples(std::vector<double> tok_s) { return {std::move(tok_s), 0, ""}; }
const std::vector<double> kBaseline = {100, 101, 99, 100, 100};

VerdictInputs inputs(std::vector<double> variant) {
  VerdictInputs in;
  in.variant = samples(std::move(variant));
  in.baseline = samples(kBaseline);
  return in;
}

KeepRule rule(double min_speedup = 1.05) {
  KeepRule r;
  r.min_speedup = min_speedup;
  return r;
}

TEST(Verdict, ClearlyFasterIsKept) {
  Verdict v = decide(inputs({120, 121, 119, 122, 120}), rule());
  EXPECT_EQ(v.kind, VerdictKind::kKeep);
  EXPECT_DOUBLE_EQ(v.tok_s_median, 120);
  ASSERT_TRUE(v.speedup.has_value());
  EXPECT_DOUBLE_EQ(v.speedup->ratio, 1.2);
  EXPECT_GT(v.speedup->ci.low, 1.0);
  EXPECT_THAT(v.reason, HasSubstr("speed-up 1.200"));
}

TEST(Verdict, NoiseIsNotSignificant) {
  Verdict v = decide(inputs({100, 102, 98, 101, 99}), rule(1.0));
  EXPECT_EQ(v.kind, VerdictKind::kDiscard);
  EXPECT_THAT(v.reason, HasSubstr("not significant"));
}

TEST(Verdict, SignificantlySlowerSaysSo) {
  Verdict v = decide(inputs({80, 81, 79, 80, 80}), rule());
  EXPECT_EQ(v.kind, VerdictKind::kDiscard);
  EXPECT_THAT(v.reason, HasSubstr("slower: speed-up 0.800"));
}

TEST(Verdict, SignificantButBelowThreshold) {
  Verdict v = decide(inputs({103, 103, 103, 103, 103}), rule(1.05));
  EXPECT_EQ(v.kind, VerdictKind::kDiscard);
  EXPECT_THAT(v.reason, HasSubstr("below threshold 1.050"));
  EXPECT_EQ(decide(inputs({103, 103, 103, 103, 103}), rule(1.02)).kind, VerdictKind::kKeep);
}

TEST(Verdict, AnyFailedRunIsACrash) {
  VerdictInputs in = inputs({150, 150});
  in.variant.n_failed = 1;
  in.variant.failures = "timeout x1";
  Verdict v = decide(in, rule());
  EXPECT_EQ(v.kind, VerdictKind::kCrash);
  EXPECT_EQ(v.reason, "1 of 3 runs failed (timeout x1)");
  EXPECT_EQ(decide(inputs({}), rule()).kind, VerdictKind::kCrash);
}

TEST(Verdict, BaselineIsTheReference) {
  VerdictInputs in = inputs(kBaseline);
  in.is_baseline = true;
  Verdict v = decide(in, rule());
  EXPECT_EQ(v.kind, VerdictKind::kBaseline);
  EXPECT_DOUBLE_EQ(v.speedup->ratio, 1.0);
}

TEST(Verdict, QualityGates) {
  KeepRule r = rule();
  r.max_kld_mean = 0.01;
  r.min_top1_agree = 0.95;
  VerdictInputs in = inputs({120, 121, 119, 122, 120});
  in.quality_enabled = true;

  in.quality = QualityResult{.ok = true, .kld_mean = 0.005, .top1_agree = 0.99};
  EXPECT_EQ(decide(in, r).kind, VerdictKind::kKeep);

  in.quality = QualityResult{.ok = true, .kld_mean = 0.02, .top1_agree = 0.9};
  Verdict v = decide(in, r);
  EXPECT_EQ(v.kind, VerdictKind::kDiscard);
  EXPECT_THAT(v.reason, HasSubstr("KLD mean 0.02 > 0.01"));
  EXPECT_THAT(v.reason, HasSubstr("top-1 agreement 0.9 < 0.95"));

  in.quality = QualityResult{.ok = false, .error = "eval: exit 1"};
  EXPECT_THAT(decide(in, r).reason, HasSubstr("quality not measured (eval: exit 1)"));

  in.quality = QualityResult{.ok = true, .kld_mean = 0.005};  // top-1 gated but missing
  EXPECT_THAT(decide(in, r).reason, HasSubstr("top-1 agreement not measured but gated"));
}

TEST(Verdict, JsonValidityDropIsRelativeToTheBaseline) {
  KeepRule r = rule();
  r.max_json_validity_drop = 0.1;
  VerdictInputs in = inputs({120, 121, 119, 122, 120});
  in.quality_enabled = true;
  in.baseline_quality = QualityResult{.ok = true, .json_validity = 0.9};
  in.quality = QualityResult{.ok = true, .json_validity = 0.85};
  EXPECT_EQ(decide(in, r).kind, VerdictKind::kKeep);
  in.quality = QualityResult{.ok = true, .json_validity = 0.7};
  EXPECT_THAT(decide(in, r).reason, HasSubstr("JSON validity fell 0.200"));
}

}  // namespace
}  // namespace streammoe::lab
