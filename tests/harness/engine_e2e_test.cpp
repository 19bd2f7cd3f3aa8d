// The lab with the real engine (build/bin/streammoe) on a fixture model: a small experiment
// fills every table, gives every variant a verdict, measures quality against cached reference
// logits, and its report renders in headless Chromium. Skipped while the engine is not built.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <thread>

#include "harness/executor.h"
#include "harness/store.h"
#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kExperiment = R"(name: e2e-fixture
hypothesis: top-1 routing is faster than top-2 on the fixture, at a quality cost
model: tests/fixtures/models/q35_text_f32
workload: {ids: [11, 42, 7, 99, 3, 250, 17, 64], tokens: 24}
repeats: 3
cache: cold
memory_budget: 1GiB
baseline: base
variants:
  - name: base
  - name: top1
    switches: {k: 1}
  - name: naive
    switches: {dequant: naive}
quality:
  ids: [5, 9, 13, 200, 31, 77, 8, 150, 2, 66, 101, 12, 45, 300, 19, 4]
  max_tokens: 16
keep:
  min_speedup: 1.0
)";

TEST(EngineEndToEnd, FixtureExperimentToRenderedReport) {
  auto engine = testing::bin_dir() / "streammoe";
  auto lab = testing::bin_dir() / "streammoe-lab";
  if (!std::filesystem::exists(engine) || !std::filesystem::exists(lab))
    GTEST_SKIP() << "needs " << engine << " and " << lab;
  TempDir dir;
  testing::write_text(dir / "e2e.yaml", kExperiment);
  SubprocessExecutor executor;
  Command run;
  run.argv = {lab.string(), "run", (dir / "e2e.yaml").string(), "--db", (dir / "lab.db").string(),
              "--engine", engine.string(), "--root", testing::source_dir().string()};
  run.timeout_s = 300;
  ExecResult ran = executor.execute(run);
  ASSERT_TRUE(ran.ok()) << describe(ran) << "\n" << ran.stderr_tail;
  EXPECT_THAT(ran.stdout_text, HasSubstr("9 runs planned, 9 run now, 0 already recorded, 0 failed"));

  Store store(dir / "lab.db");
  for (const char* table : {"experiments", "environment", "variants", "runs", "metrics", "quality", "verdicts"})
    EXPECT_GT(to_int(store.query(std::string("SELECT COUNT(*) FROM ") + table)[0].values[0]), 0) << table;
  EXPECT_EQ(to_int(store.query("SELECT COUNT(*) FROM metrics WHERE decode_tok_s > 0")[0].values[0]), 9);

  // Every variant has a verdict; the baseline is the baseline.
  auto verdicts = store.query(
      "SELECT v.name, d.verdict, d.tok_s_median, d.speedup_ci_low FROM verdicts d JOIN variants "
      "v ON v.id = d.variant_id ORDER BY v.ordinal");
  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_EQ(to_text(verdicts[0].at("verdict")), "baseline");
  for (const auto& v : verdicts) {
    EXPECT_THAT(to_text(v.at("verdict")), ::testing::AnyOf("baseline", "keep", "discard"));
    EXPECT_GT(to_double(v.at("tok_s_median")), 0);
  }

  // Quality against the engine's own reference logits: the baseline matches itself exactly,
  // top-1 routing does not; the naive dequant path changes nothing on an f32 model.
  auto quality = store.query(
      "SELECT v.name, q.status, q.error, q.kld_mean, q.top1_agree, q.tokens FROM quality q JOIN "
      "variants v ON v.id = q.variant_id ORDER BY v.ordinal");
  ASSERT_EQ(quality.size(), 3u);
  for (const auto& q : quality) EXPECT_EQ(to_text(q.at("status")), "ok") << to_text(q.at("error"));
  EXPECT_NEAR(to_double(quality[0].at("kld_mean")), 0.0, 1e-6);
  EXPECT_DOUBLE_EQ(to_double(quality[0].at("top1_agree")), 1.0);
  EXPECT_GT(to_double(quality[1].at("kld_mean")), 1e-4);
  EXPECT_NEAR(to_double(quality[2].at("kld_mean")), 0.0, 1e-6);
  EXPECT_EQ(to_int(quality[0].at("tokens")), 15);  // 16 tokens give 15 next-token predictions

  // Environment and budget enforcement are recorded.
  auto env = store.query("SELECT git_commit, cpu_model, kernel, cache_state, budget_mechanism FROM environment");
  EXPECT_FALSE(to_text(env[0].at("git_commit")).empty());
  EXPECT_EQ(to_text(env[0].at("cache_state")), "cold");

  // The compute threads are recorded as the number used, never a placeholder: with no --threads
  // the engine defaults to the number of cores, and both the variant's options and each run's
  // metrics carry that number.
  const std::string cores = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  for (const auto& v : store.query("SELECT options_json FROM variants"))
    EXPECT_EQ(nlohmann::json::parse(to_text(v.at("options_json")))["threads"], cores);
  for (const auto& r : store.query("SELECT metrics_json FROM runs"))
    EXPECT_EQ(nlohmann::json::parse(to_text(r.at("metrics_json")))["options"]["threads"].dump(), cores);

  Command report;
  report.argv = {lab.string(), "report", "--db", (dir / "lab.db").string(), "--out", (dir / "report").string()};
  ASSERT_TRUE(executor.execute(report).ok());
  EXPECT_THAT(testing::read_text(dir / "report/results.md"), HasSubstr("| top1 |"));
  std::string why;
  std::string dom = testing::render_dom(dir / "report/index.html", why);
  if (dom.empty()) GTEST_SKIP() << "Chromium could not render: " << why;
  EXPECT_EQ(testing::count_of(dom, "<table class=\"results\">"), 1);
  EXPECT_EQ(testing::count_of(dom, "<svg class=\"chart\""), 3);
  EXPECT_EQ(testing::count_of(dom, "<rect class=\"bar "), 3);
  EXPECT_THAT(dom, HasSubstr("<td>top1</td>"));
}

}  // namespace
}  // namespace streammoe::lab
