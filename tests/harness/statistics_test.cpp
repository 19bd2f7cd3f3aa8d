// The statistics a reviewer asks for, on constructed cases with known answers: paired analysis,
// outliers, Wilson and mean intervals, error bars from logits, keep rules on any recorded
// metric, the minimum number of runs, the minimum time, and the noisy-machine warning.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/util/error.h"
#include "harness/mock_executor.h"
#include "harness/quality_stats.h"
#include "harness/runner.h"
#include "harness/stats.h"
#include "harness/verdict.h"
#include "lab_fixture.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Five prompts of very different speed; the variant is exactly 10% faster on each.
const std::vector<double> kBaseline = {50, 100, 200, 400, 80};
std::vector<double> times(const std::vector<double>& v, double f) {
  std::vector<double> out;
  for (double x : v) out.push_back(x * f);
  return out;
}

TEST(Paired, AConstantGainOnPromptsOfDifferentSpeedIsExactlyKnown) {
  RatioEstimate paired = bootstrap_paired_ratio(times(kBaseline, 1.1), kBaseline);
  EXPECT_DOUBLE_EQ(paired.ratio, 1.1);
  EXPECT_NEAR(paired.ci.low, 1.1, 1e-12);  // every pair says 1.1: no resample can say otherwise
  EXPECT_NEAR(paired.ci.high, 1.1, 1e-12);
  // Unpaired, the prompts' spread swamps the gain.
  RatioEstimate unpaired = bootstrap_ratio_of_medians(times(kBaseline, 1.1), kBaseline);
  EXPECT_LT(unpaired.ci.low, 1.0);
  EXPECT_GT(unpaired.ci.high, 1.2);
}

VariantSamples with_repeats(std::vector<double> tok_s) {
  VariantSamples s{std::move(tok_s), 0, ""};
  for (size_t i = 0; i < s.tok_s.size(); ++i) s.repeats.push_back(static_cast<int>(i));
  return s;
}

TEST(Paired, TheVerdictPairsRunsThatShareARepeat) {
  VerdictInputs in;
  in.variant = with_repeats(times(kBaseline, 1.1));
  in.baseline = with_repeats(kBaseline);
  KeepRule rule;
  Verdict paired = decide(in, rule);
  EXPECT_EQ(paired.kind, VerdictKind::kKeep);
  EXPECT_TRUE(paired.paired);
  EXPECT_EQ(paired.n_compared, 5);
  EXPECT_THAT(paired.reason, HasSubstr("speed-up 1.100 [1.100, 1.100] (paired, 5 pairs)"));
  rule.paired = false;
  Verdict unpaired = decide(in, rule);
  EXPECT_EQ(unpaired.kind, VerdictKind::kDiscard);
  EXPECT_FALSE(unpaired.paired);
  EXPECT_THAT(unpaired.reason, HasSubstr("not significant"));
  // Runs that do not pair (different repeats) fall back to the unpaired analysis.
  in.baseline.repeats = {10, 11, 12, 13, 14};
  rule.paired = true;
  EXPECT_FALSE(decide(in, rule).paired);
}

TEST(Statistics, OutliersByModifiedZScore) {
  std::vector<double> runs = {100, 101, 99, 100, 102, 98, 160};
  EXPECT_THAT(outliers(runs), ::testing::ElementsAre(6u));
  EXPECT_TRUE(outliers(std::vector<double>{100, 101, 99}).empty());
  EXPECT_TRUE(outliers(std::vector<double>{5, 5, 5, 5, 9}).empty());  // MAD 0: no judgement
  VerdictInputs in;
  in.variant = with_repeats(runs);
  in.baseline = with_repeats(runs);
  in.is_baseline = true;
  Verdict v = decide(in, KeepRule{});
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_EQ(v.warnings[0], "1 of 7 runs are outliers in decode_tok_s (160; modified z-score > 3.5)");
}

TEST(Statistics, NoisyMachineWhenTheLoadExceedsTheCores) {
  EXPECT_FALSE(noisy_machine(std::vector<double>{0.5, 1.9}, 2).has_value());
  auto noisy = noisy_machine(std::vector<double>{0.5, 3.25, NAN}, 2);
  ASSERT_TRUE(noisy.has_value());
  EXPECT_THAT(*noisy, HasSubstr("noisy machine: 1-minute load average up to 3.2 on 2 cores"));
  EXPECT_FALSE(noisy_machine(std::vector<double>{9}, 0).has_value());  // cores unknown
}

TEST(Statistics, IntervalsAgainstHandComputedValues) {
  EXPECT_NEAR(normal_quantile(0.95), 1.959964, 1e-6);
  EXPECT_NEAR(normal_quantile(0.99), 2.575829, 1e-6);
  // Wilson, 8 of 10 at 95%: [0.4902, 0.9433] (the textbook example's values).
  Interval w = wilson_interval(8, 10);
  EXPECT_NEAR(w.low, 0.4902, 1e-4);
  EXPECT_NEAR(w.high, 0.9433, 1e-4);
  Interval all = wilson_interval(10, 10);
  EXPECT_NEAR(all.high, 1.0, 1e-12);
  EXPECT_LT(all.low, 1.0);  // ten of ten is not certainty
  EXPECT_TRUE(std::isnan(wilson_interval(0, 0).low));
  // mean 2, sd 1, n 4: 2 +- 1.96 * 0.5.
  Interval m = mean_ci(std::vector<double>{1, 2, 2, 3} /* sd sqrt(2/3) */);
  double se = std::sqrt(2.0 / 3.0) / 2;
  EXPECT_NEAR(m.low, 2 - 1.959964 * se, 1e-6);
  EXPECT_NEAR(m.high, 2 + 1.959964 * se, 1e-6);
}

NpyArray array(int64_t rows, int64_t cols, std::vector<float> values) {
  NpyArray a;
  a.shape = {rows, cols};
  a.f32 = std::move(values);
  return a;
}

TEST(QualityIntervals, FromLogitsWithKnownAnswers) {
  // Reference uniform over two tokens; the variant is uniform on rows 0 and 2 and puts
  // e^1 : 1 on row 1. KL(uniform || (e/(1+e), 1/(1+e))) = ln 2 * ... computed below.
  const double p = std::exp(1.0) / (1 + std::exp(1.0));
  const double kl1 = 0.5 * std::log(0.5 / p) + 0.5 * std::log(0.5 / (1 - p));
  NpyArray reference = array(3, 2, {0, 0, 0, 0, 0, 0});
  NpyArray variant = array(3, 2, {0, 0, 1, 0, 0, 0});
  std::vector<int64_t> ids = {0, 1, 0};  // targets of rows 0 and 1: 1 then 0
  auto q = quality_intervals(variant, reference, ids);
  ASSERT_TRUE(q.has_value());
  EXPECT_NEAR(q->kld_mean, kl1 / 3, 1e-12);
  Interval expected = mean_ci(std::vector<double>{0, kl1, 0});
  EXPECT_NEAR(q->kld_mean_ci.low, std::max(0.0, expected.low), 1e-12);
  EXPECT_NEAR(q->kld_mean_ci.high, expected.high, 1e-12);
  // Argmax ties pick the first index: rows agree on 0, 0, 0.
  EXPECT_DOUBLE_EQ(q->top1_agree, 1.0);
  // NLL differences: row 0 target 1: -ln 0.5 vs -ln 0.5 -> 0; row 1 target 0: -ln p vs -ln 0.5.
  ASSERT_TRUE(q->ppl_ratio.has_value());
  EXPECT_NEAR(*q->ppl_ratio, std::exp((std::log(0.5) - std::log(p)) / 2), 1e-12);
  EXPECT_LT(q->ppl_ratio_ci->low, *q->ppl_ratio);
  EXPECT_GT(q->ppl_ratio_ci->high, *q->ppl_ratio);
  // Without ids (text tokenised by the engine) there is no perplexity interval.
  EXPECT_FALSE(quality_intervals(variant, reference, {})->ppl_ratio.has_value());
  EXPECT_FALSE(quality_intervals(variant, array(2, 3, {0, 0, 0, 0, 0, 0}), ids).has_value());
}

// --- through the runner --------------------------------------------------------------------

class StatisticsRunnerTest : public testing::LabProjectTest {};

constexpr const char* kHead =
    "name: s\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 4\nbaseline: base\n"
    "variants: [{name: base}, {name: fma-free, switches: {dequant: naive}}]\n";

TEST_F(StatisticsRunnerTest, AKeepRuleJudgesTheMetricItNames) {
  // Decode speed is the same; expert compute is 20% lower with the variant.
  MockExecutor executor([](const Command& c) {
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(100);
    bool naive = MockExecutor::flag(c, "dequant") == "naive";
    (*reply.metrics)["phase_ms_per_token"]["expert_compute"] = naive ? 0.8 : 1.0;
    return reply;
  });
  for (const char* keep : {"", "keep: {metric: expert_compute_ms}\n"}) {
    ExperimentSpec spec = load(std::string(kHead) + keep);
    Store store(dir_ / (std::string(keep).empty() ? "tok.db" : "compute.db"));
    Runner(spec, store, executor, options()).run();
    auto v = store.query("SELECT verdict, reason, keep_metric, speedup, paired FROM verdicts d "
                         "JOIN variants v ON v.id = d.variant_id WHERE v.name = 'fma-free'");
    ASSERT_EQ(v.size(), 1u);
    if (std::string(keep).empty()) {
      EXPECT_EQ(to_text(v[0].at("verdict")), "discard");  // 1.000: no speed-up
      EXPECT_EQ(to_text(v[0].at("keep_metric")), "decode_tok_s");
    } else {
      EXPECT_EQ(to_text(v[0].at("verdict")), "keep");
      EXPECT_EQ(to_text(v[0].at("keep_metric")), "expert_compute_ms");
      EXPECT_NEAR(to_double(v[0].at("speedup")), 1.25, 1e-9);  // 1.0 / 0.8: lower is better
      EXPECT_THAT(to_text(v[0].at("reason")), HasSubstr("expert_compute_ms improvement 1.250"));
      EXPECT_EQ(to_int(v[0].at("paired")), 1);
    }
  }
}

TEST_F(StatisticsRunnerTest, KeepRuleMetricsAreCheckedWhenTheFileIsRead) {
  EXPECT_THAT(load_error(std::string(kHead) + "keep: {metric: tokens_per_fortnight}\n"),
              HasSubstr("keep.metric 'tokens_per_fortnight' is not a recorded metric (one of: "
                        "ttft_ms, decode_tok_s, prefill_tok_s"));
  EXPECT_THAT(load_error(std::string(kHead) + "keep: {metric: ttft_ms, direction: sideways}\n"),
              HasSubstr("keep.direction must be higher or lower"));
  EXPECT_TRUE(higher_is_better("prefill_tok_s"));
  EXPECT_FALSE(higher_is_better("ttft_ms"));
  EXPECT_FALSE(higher_is_better("expert_bytes_read_per_token"));
  ExperimentSpec spec = load(std::string(kHead) + "keep: {metric: ttft_ms, direction: higher}\n");
  EXPECT_TRUE(spec.keep.higher_is_better);
}

TEST_F(StatisticsRunnerTest, FewerRunsThanMinRunsIsInconclusive) {
  ExperimentSpec spec = load(
      "name: s\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 2\nbaseline: base\n"
      "variants: [{name: base}, {name: fast, switches: {io: mmap}}]\nkeep: {min_runs: 3}\n");
  MockExecutor executor([](const Command& c) {
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(MockExecutor::flag(c, "io") == "mmap" ? 200 : 100);
    return reply;
  });
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, options()).run();
  auto v = store.query("SELECT verdict, reason FROM verdicts WHERE verdict <> 'baseline'");
  EXPECT_EQ(to_text(v[0].at("verdict")), "discard");
  EXPECT_THAT(to_text(v[0].at("reason")),
              HasSubstr("inconclusive: 2 pairs and 2 baseline runs, fewer than min_runs 3"));
}

TEST_F(StatisticsRunnerTest, MinimumTimeAddsInterleavedRoundsUpToMaxRepeats) {
  ExperimentSpec spec = load(
      "name: s\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 2\nmin_time_s: 0.5\n"
      "max_repeats: 4\nbaseline: base\nvariants: [{name: base}, {name: slow, switches: {io: mmap}}]\n");
  MockExecutor executor([](const Command& c) {
    MockReply reply = MockExecutor::ok_reply();
    reply.result.wall_ms = MockExecutor::flag(c, "io") == "mmap" ? 100 : 300;  // 0.1 s vs 0.3 s
    reply.metrics = MockExecutor::engine_metrics(100);
    return reply;
  });
  Store store(dir_ / "lab.db");
  RunnerSummary summary = Runner(spec, store, executor, options()).run();
  // base reaches 0.5 s after 2 runs, slow would need 5: rounds 3 and 4 run both (still paired),
  // and max_repeats stops there.
  EXPECT_EQ(summary.executed, 8);
  auto per_variant = store.query(
      "SELECT v.name, COUNT(*) AS n, MAX(r.repeat) AS last FROM runs r JOIN variants v ON v.id = "
      "r.variant_id GROUP BY v.name ORDER BY v.name");
  EXPECT_EQ(to_int(per_variant[0].at("n")), 4);
  EXPECT_EQ(to_int(per_variant[1].at("n")), 4);
  EXPECT_EQ(to_int(per_variant[1].at("last")), 3);
  EXPECT_EQ(to_text(store.query("SELECT status FROM experiments")[0].values[0]), "complete");
  // Without min_time_s nothing is added.
  ExperimentSpec plain = load(std::string(kHead));
  EXPECT_EQ(plain.max_repeats, 0);
}

TEST_F(StatisticsRunnerTest, QualityMeasuresCarryErrorBars) {
  testing::write_text(dir_ / "json.txt", "{\"a\": \n{\"b\": \n{\"c\": \n");
  ExperimentSpec spec = load(std::string(kHead) +
                             "quality: {ids: [1, 2], json_prompts: json.txt, json_tokens: 4}\n");
  MockExecutor executor([](const Command& c) {
    if (c.argv[1] == "eval")
      return MockExecutor::ok_reply(MockExecutor::has(c, "--ref-logits")
                                        ? MockExecutor::eval_json(0.0, 1.0, 10, 10)
                                        : "");
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(100);
    std::string prompt = MockExecutor::flag(c, "prompt");
    if (prompt != "hi") (*reply.metrics)["output_text"] = prompt.find('c') != std::string::npos ? "1," : "1}";
    return reply;
  });
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, options()).run();
  auto q = store.query(
      "SELECT json_valid, json_total, json_validity_ci_low, json_validity_ci_high, kld_mean_ci_low, "
      "kld_mean_ci_high, top1_agree_ci_low FROM quality ORDER BY id LIMIT 1");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(to_int(q[0].at("json_valid")), 2);
  EXPECT_EQ(to_int(q[0].at("json_total")), 3);
  Interval w = wilson_interval(2, 3);
  EXPECT_NEAR(to_double(q[0].at("json_validity_ci_low")), w.low, 1e-12);
  EXPECT_NEAR(to_double(q[0].at("json_validity_ci_high")), w.high, 1e-12);
  // The mock's logits equal the reference's: KL 0 on both rows, agreement 2 of 2.
  EXPECT_DOUBLE_EQ(to_double(q[0].at("kld_mean_ci_low")), 0);
  EXPECT_DOUBLE_EQ(to_double(q[0].at("kld_mean_ci_high")), 0);
  EXPECT_NEAR(to_double(q[0].at("top1_agree_ci_low")), wilson_interval(2, 2).low, 1e-12);
}

}  // namespace
}  // namespace streammoe::lab
