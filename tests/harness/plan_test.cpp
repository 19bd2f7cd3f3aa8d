// Run ordering: one group per compile-time option set (baseline's first), models inside it,
// repeats interleaved across variants (or grouped), the same prompt per repeat.
#include "harness/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace streammoe::lab {
namespace {

ExperimentSpec make_spec() {
  ExperimentSpec spec;
  spec.models = {"/m/a", "/m/b"};
  spec.workload.prompts = {"p0", "p1"};
  spec.repeats = 2;
  spec.baseline = "base";
  Variant base, native, fast;
  base.name = "base";
  native.name = "native";
  native.build_options = {{"STREAMMOE_NATIVE", "ON"}};
  fast.name = "fast";
  fast.switches = {{"io", "mmap"}};
  spec.variants = {base, native, fast};
  return spec;
}

std::vector<std::string> order(const ExperimentSpec& spec) {
  std::vector<std::string> out;
  for (const auto& p : plan_runs(spec))
    out.push_back(spec.variants[p.variant_index].name + "/" +
                  spec.models[p.model_index].filename().string() + "/" + std::to_string(p.repeat));
  return out;
}

TEST(Plan, InterleavedWithinBuildAndModel) {
  ExperimentSpec spec = make_spec();
  EXPECT_THAT(order(spec),
              ::testing::ElementsAre(
                  // default build: base and fast, model a then b, repeats interleaved
                  "base/a/0", "fast/a/0", "base/a/1", "fast/a/1",  //
                  "base/b/0", "fast/b/0", "base/b/1", "fast/b/1",  //
                  // then the one variant that needs its own build
                  "native/a/0", "native/a/1", "native/b/0", "native/b/1"));
}

TEST(Plan, GroupedKeepsRepeatsTogether) {
  ExperimentSpec spec = make_spec();
  spec.order = RunOrder::kGrouped;
  auto o = order(spec);
  EXPECT_EQ(std::vector<std::string>(o.begin(), o.begin() + 4),
            (std::vector<std::string>{"base/a/0", "base/a/1", "fast/a/0", "fast/a/1"}));
}

TEST(Plan, OrdinalsPromptsAndBuildKeys) {
  ExperimentSpec spec = make_spec();
  auto plans = plan_runs(spec);
  ASSERT_EQ(plans.size(), 12u);  // 3 variants x 2 models x 2 repeats
  for (size_t i = 0; i < plans.size(); ++i) {
    EXPECT_EQ(plans[i].ordinal, static_cast<int>(i));
    EXPECT_EQ(plans[i].prompt_index, plans[i].repeat % 2);
  }
  EXPECT_EQ(plans.front().build_key, "");
  EXPECT_EQ(plans.back().build_key, "STREAMMOE_NATIVE=ON");
  EXPECT_EQ(build_key({{"B", "1"}, {"A", "2"}}), "A=2;B=1");  // canonical order
  EXPECT_EQ(run_key("v", "m", 3), "v|m|3");
}

}  // namespace
}  // namespace streammoe::lab
