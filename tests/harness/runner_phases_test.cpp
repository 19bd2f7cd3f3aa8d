// Each phase of Runner::run on its own, with the mock executor: planning, model preparation,
// the experiment row, the session rows, one run executed and judged, one run stored, the
// quality suite over stored runs, and the verdicts over stored runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "harness/mock_executor.h"
#include "harness/run_record.h"
#include "harness/runner.h"
#include "lab_fixture.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kExperiment = R"(name: phases
model: models/tiny
workload: {prompt: hello, tokens: 8}
repeats: 2
baseline: base
variants:
  - name: base
  - name: fast
    switches: {io: mmap}
quality:
  ids: [1, 2, 3]
  max_tokens: 3
)";

MockReply engine(const Command& c) {
  if (c.argv[1] == "eval")
    return MockExecutor::ok_reply(
        MockExecutor::has(c, "--ref-logits") ? MockExecutor::eval_json(0.001, 0.99, 10.1, 10.0) : "");
  MockReply reply = MockExecutor::ok_reply();
  reply.metrics = MockExecutor::engine_metrics(MockExecutor::flag(c, "io") == "mmap" ? 150 : 100);
  return reply;
}

class RunnerPhasesTest : public testing::LabProjectTest {
 protected:
  void SetUp() override {
    LabProjectTest::SetUp();
    spec_ = load(kExperiment);
  }

  RunnerOptions options(bool resume = false) const {
    RunnerOptions o = LabProjectTest::options();
    o.resume = resume;
    return o;
  }

  int64_t count(Store& store, const std::string& sql) {
    return to_int(store.query(sql)[0].values[0]);
  }

  // A finished ok run, as execute_run would have returned it, without running anything.
  static RunRecord ok_record(double tok_s) {
    ExecResult result;
    result.kind = ExitKind::kExited;
    result.exit_code = 0;
    RunRecord record = judge_run(result, false, MockExecutor::engine_metrics(tok_s).dump(), "m.json");
    record.argv = {"streammoe", "generate"};
    return record;
  }

  ExperimentSpec spec_;
};

TEST_F(RunnerPhasesTest, PlanIsTheSpecsRunsInOrder) {
  Store store(dir_ / "lab.db");
  MockExecutor executor(engine);
  auto plans = Runner(spec_, store, executor, options()).plan();
  ASSERT_EQ(plans.size(), 4u);
  EXPECT_EQ(spec_.variants[plans[0].variant_index].name, "base");
  EXPECT_EQ(spec_.variants[plans[1].variant_index].name, "fast");
  EXPECT_EQ(plans[2].repeat, 1);
  EXPECT_TRUE(executor.calls().empty());
}

TEST_F(RunnerPhasesTest, PrepareModelsWithoutRecipesIsTheSpec) {
  Store store(dir_ / "lab.db");
  MockExecutor executor(engine);
  nlohmann::json plan = Runner(spec_, store, executor, options()).prepare_models();
  EXPECT_EQ(plan["name"], "phases");
  EXPECT_FALSE(plan.contains("prepared_models"));
  EXPECT_TRUE(executor.calls().empty());
}

TEST_F(RunnerPhasesTest, OpenExperimentCreatesOrResumes) {
  Store store(dir_ / "lab.db");
  MockExecutor executor(engine);
  Session first = Runner(spec_, store, executor, options()).open_experiment({{"x", 1}}, 4);
  EXPECT_FALSE(first.resumed);
  const int64_t first_id = first.experiment_id;
  first = Session{};  // the session ends (and with it the experiment's lock)
  auto row = store.query("SELECT name, status, runs_planned, plan_json FROM experiments");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(to_text(row[0].at("status")), "running");
  EXPECT_EQ(to_int(row[0].at("runs_planned")), 4);
  EXPECT_EQ(to_text(row[0].at("plan_json")), "{\"x\":1}");
  Session again = Runner(spec_, store, executor, options(true)).open_experiment({}, 4);
  EXPECT_TRUE(again.resumed);
  EXPECT_EQ(again.experiment_id, first_id);
  again = Session{};
  Session fresh = Runner(spec_, store, executor, options(false)).open_experiment({}, 4);
  EXPECT_NE(fresh.experiment_id, first_id);
}

TEST_F(RunnerPhasesTest, RecordSessionWritesEnvironmentAndVariantsOnce) {
  Store store(dir_ / "lab.db");
  MockExecutor executor(engine);
  Runner runner(spec_, store, executor, options());
  Session session = runner.open_experiment({}, 4);
  runner.record_session(session);
  ASSERT_EQ(session.variant_ids.size(), 2u);
  EXPECT_GT(session.environment_id, 0);
  EXPECT_TRUE(session.cgroup_procs().empty());  // no memory budget
  const std::vector<int64_t> variant_ids = session.variant_ids;
  const int64_t environment_id = session.environment_id;
  session = Session{};
  Runner resumed(spec_, store, executor, options(true));
  Session second = resumed.open_experiment({}, 4);
  resumed.record_session(second);
  EXPECT_EQ(second.variant_ids, variant_ids);  // the same rows
  EXPECT_NE(second.environment_id, environment_id);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM environment"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM variants"), 2);
}

TEST_F(RunnerPhasesTest, ExecuteRunRunsOneCommandAndJudgesIt) {
  Store store(dir_ / "lab.db");
  MockExecutor executor(engine);
  Runner runner(spec_, store, executor, options());
  Session session = runner.open_experiment({}, 4);
  runner.record_session(session);
  RunPlan plan = runner.plan()[1];  // fast, repeat 0
  RunRecord record = runner.execute_run(session, plan);
  ASSERT_EQ(executor.calls().size(), 1u);
  EXPECT_EQ(MockExecutor::flag(executor.calls()[0], "io"), "mmap");
  EXPECT_EQ(record.status, "ok");
  ASSERT_TRUE(record.metrics.has_value());
  EXPECT_DOUBLE_EQ((*record.metrics)["decode_tok_s"].get<double>(), 150.0);
  EXPECT_EQ(record.outcome(), "150.00 tok/s");
  EXPECT_THAT(shell_join(record.argv), HasSubstr("/opt/fake/streammoe generate --model"));
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs"), 0);  // storing is the next phase
}

TEST_F(RunnerPhasesTest, StoreRunWritesTheRunAndItsMetricsOnlyWhenOk) {
  Store store(dir_ / "lab.db");
  MockExecutor executor(engine);
  Runner runner(spec_, store, executor, options());
  Session session = runner.open_experiment({}, 4);
  runner.record_session(session);
  auto plans = runner.plan();
  runner.store_run(session, plans[0], ok_record(100));
  ExecResult crashed;
  crashed.kind = ExitKind::kSignaled;
  crashed.signal = 11;
  crashed.stderr_tail = "boom\n";
  RunRecord crash = judge_run(crashed, false, "{}", "m.json");
  runner.store_run(session, plans[1], crash);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs"), 2);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM metrics"), 1);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM runs WHERE status = 'crash' AND signal = 11"), 1);
  EXPECT_EQ(runner.recorded_runs(session),
            (std::set<std::string>{"base|models/tiny|0", "fast|models/tiny|0"}));
  EXPECT_TRUE(executor.calls().empty());
}

TEST_F(RunnerPhasesTest, QualityAndVerdictsFromStoredRunsAlone) {
  Store store(dir_ / "lab.db");
  MockExecutor executor(engine);
  Runner runner(spec_, store, executor, options());
  Session session = runner.open_experiment(spec_.to_json(), 4);
  runner.record_session(session);
  auto plans = runner.plan();
  for (size_t i = 0; i < 3; ++i)  // one run short of the plan
    runner.store_run(session, plans[i], ok_record(plans[i].variant_index ? 150 : 100));
  runner.measure_quality(session);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM quality WHERE status = 'ok'"), 2);
  for (const auto& c : executor.calls()) EXPECT_EQ(c.argv[1], "eval");  // no run was repeated
  EXPECT_FALSE(runner.decide(session, 4));
  EXPECT_EQ(to_text(store.query("SELECT status FROM experiments")[0].values[0]), "running");
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM verdicts"), 2);
  runner.store_run(session, plans[3], ok_record(150));
  EXPECT_TRUE(runner.decide(session, 4));
  EXPECT_EQ(to_text(store.query("SELECT status FROM experiments")[0].values[0]), "complete");
}

TEST(RunRecord, ExitZeroWithoutUsableMetricsIsAnError) {
  ExecResult ok;
  ok.kind = ExitKind::kExited;
  ok.exit_code = 0;
  RunRecord empty = judge_run(ok, false, "", "/x/m.json");
  EXPECT_EQ(empty.status, "error");
  EXPECT_THAT(empty.stderr_tail, HasSubstr("[lab] metrics (/x/m.json): missing or empty"));
  RunRecord garbage = judge_run(ok, false, "[1, 2]", "/x/m.json");
  EXPECT_EQ(garbage.status, "error");
  EXPECT_THAT(garbage.stderr_tail, HasSubstr("not a JSON object"));
  RunRecord good = judge_run(ok, false, "{\"decode_tok_s\": 5}", "/x/m.json");
  EXPECT_EQ(good.status, "ok");
  EXPECT_EQ(good.outcome(), "5.00 tok/s");
}

TEST(RunRecord, HowAProcessEndedDecidesItsStatus) {
  ExecResult r;
  r.kind = ExitKind::kTimedOut;
  EXPECT_EQ(classify(r, false), "timeout");
  r.kind = ExitKind::kSignaled;
  r.signal = 9;
  EXPECT_EQ(classify(r, true), "oom");
  EXPECT_EQ(classify(r, false), "crash");
  r.kind = ExitKind::kExited;
  r.exit_code = 1;
  EXPECT_EQ(classify(r, false), "error");
  r.kind = ExitKind::kFailedToStart;
  r.error = "cannot execute x";
  RunRecord record = judge_run(r, false, "", "m");
  EXPECT_EQ(record.status, "error");
  EXPECT_EQ(record.stderr_tail, "cannot execute x");
}

}  // namespace
}  // namespace streammoe::lab
