// `run --rerun EXP`: the experiment repeated from the YAML stored with it, as a new experiment
// that names the original, and the verdicts that did and did not reproduce.
#include "harness/rerun.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/mock_executor.h"
#include "harness/runner.h"
#include "lab_fixture.h"
#include "report/terminal.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kExperiment = R"(name: robust
model: models/tiny
workload: {prompt: hi, tokens: 8}
repeats: 3
baseline: base
variants:
  - name: base
  - name: mapped
    switches: {io: mmap}
  - name: naive
    switches: {dequant: naive}
  - name: two
    switches: {k: 2}
)";

class RerunTest : public testing::LabProjectTest {
 protected:
  void SetUp() override {
    LabProjectTest::SetUp();
    testing::write_text(dir_ / "experiments/e.yaml", kExperiment);
  }
  RunnerOptions options(std::optional<int64_t> rerun_of = std::nullopt) const {
    RunnerOptions o = LabProjectTest::options();
    o.rerun_of = rerun_of;
    return o;
  }
  // mmap's gain is `mmap_gain`; naive is 10% slower; k=2 crashes.
  static MockExecutor engine(double mmap_gain) {
    return MockExecutor([mmap_gain](const Command& c) {
      MockReply reply = MockExecutor::ok_reply();
      if (MockExecutor::flag(c, "k") == "2") {
        reply.result.kind = ExitKind::kSignaled;
        reply.result.signal = 11;
        return reply;
      }
      double tok_s = 100;
      if (MockExecutor::flag(c, "io") == "mmap") tok_s *= mmap_gain;
      if (MockExecutor::flag(c, "dequant") == "naive") tok_s *= 0.9;
      reply.metrics = MockExecutor::engine_metrics(tok_s);
      return reply;
    });
  }
};

TEST_F(RerunTest, TheStoredYamlIsWhatRunsAgain) {
  SpecOptions spec_options;
  spec_options.catalog = &catalog_;
  ExperimentSpec from_file = load_experiment(dir_ / "experiments/e.yaml", spec_options);
  // The file may have changed or gone since; the database holds what ran.
  std::filesystem::remove(dir_ / "experiments/e.yaml");
  ExperimentSpec from_text =
      load_experiment_text(from_file.yaml_text, dir_ / "experiments/e.yaml", spec_options);
  EXPECT_EQ(from_text.identity_hash(), from_file.identity_hash());
  EXPECT_EQ(from_text.root, from_file.root);
  EXPECT_EQ(from_text.models, from_file.models);
}

TEST_F(RerunTest, ReportsWhichVerdictsReproduced) {
  ExperimentSpec spec = load_file();
  Store store(dir_ / "lab.db");
  MockExecutor first = engine(1.3);
  RunnerSummary original = Runner(spec, store, first, options()).run();
  // The rerun: mmap's gain was noise and is gone; the rest behaves the same.
  MockExecutor second = engine(1.0);
  RunnerSummary rerun = Runner(spec, store, second, options(original.experiment_id)).run();
  EXPECT_NE(rerun.experiment_id, original.experiment_id);
  EXPECT_FALSE(rerun.resumed);
  EXPECT_EQ(to_int(store.query("SELECT rerun_of FROM experiments WHERE id = ?",
                               {rerun.experiment_id})[0].values[0]),
            original.experiment_id);

  Reproduction r = compare_verdicts(store, original.experiment_id, rerun.experiment_id);
  EXPECT_EQ(r.compared, 3);  // mapped, naive, two (the baseline is not a verdict on a technique)
  EXPECT_EQ(r.reproduced, 2);
  ASSERT_EQ(r.flipped.size(), 1u);
  EXPECT_EQ(r.flipped[0].variant, "mapped");
  EXPECT_EQ(r.flipped[0].before, "keep (better)");
  EXPECT_EQ(r.flipped[0].after, "discard (n.s.)");
  EXPECT_EQ(r.text(),
            "2 of 3 verdicts reproduced (67%); not robust: mapped keep (better) -> discard (n.s.)");
  EXPECT_THAT(show_view(store, rerun.experiment_id),
              HasSubstr("rerun of #1: 2 of 3 verdicts reproduced (67%)"));
  EXPECT_EQ(compare_verdicts(store, original.experiment_id, original.experiment_id).text(),
            "3 of 3 verdicts reproduced (100%)");
}

// Two discards are not a reproduction when the effect changed direction: a flagged cold experiment
// discards every variant, so the decision alone could not fail.
TEST_F(RerunTest, AVerdictReproducesOnlyWithTheDirectionOfItsEffect) {
  ExperimentSpec spec = load_file();
  Store store(dir_ / "lab.db");
  MockExecutor first = engine(0.8);  // mmap slower: discard (worse)
  RunnerSummary original = Runner(spec, store, first, options()).run();
  MockExecutor second = engine(1.0);  // no effect: discard (n.s.)
  RunnerSummary rerun = Runner(spec, store, second, options(original.experiment_id)).run();
  Reproduction r = compare_verdicts(store, original.experiment_id, rerun.experiment_id);
  EXPECT_EQ(r.compared, 3);
  EXPECT_EQ(r.reproduced, 2);
  EXPECT_EQ(r.text(),
            "2 of 3 verdicts reproduced (67%); not robust: "
            "mapped discard (worse) -> discard (n.s.)");
}

}  // namespace
}  // namespace streammoe::lab
