// The runner end to end with the mock executor (no engine): every table gets rows, failures are
// recorded and the experiment goes on, verdicts follow the numbers, and an interrupted
// experiment resumes without duplicated or lost runs.
#include "harness/runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "harness/mock_executor.h"
#include "harness/quality.h"
#include "lab_fixture.h"
#include "report/exporter.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kExperiment = R"(name: mock-study
hypothesis: mmap is faster; k=2 crashes; threads=4 hangs
model: models/tiny
workload: {prompt: hello, tokens: 16}
repeats: 3
baseline: base
variants:
  - name: base
  - mmap
  - name: slow
    switches: {dequant: naive}
matrix:
  switches: {k: [2]}
quality:
  ids: [1, 2, 3, 4]
  max_tokens: 4
  json_prompts: json.txt
  json_tokens: 8
keep:
  min_speedup: 1.05
  max_kld_mean: 0.05
)";

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("the lab was killed") {}
};

// Plays the engine: speed by switches, a crash for k=2, quality numbers, JSON answers.
MockReply engine_reply(const Command& c, int call) {
  const std::string sub = c.argv.size() > 1 ? c.argv[1] : "";
  if (sub == "eval" && MockExecutor::has(c, "--ref-logits")) {
    bool naive = MockExecutor::flag(c, "dequant") == "naive";
    return MockExecutor::ok_reply(MockExecutor::eval_json(naive ? 0.2 : 0.001, 0.99, 10.1, 10.0));
  }
  if (sub == "eval") return MockExecutor::ok_reply();  // --dump-logits: the mock writes the file
  if (MockExecutor::flag(c, "k") == "2") {
    MockReply crash;
    crash.result.kind = ExitKind::kSignaled;
    crash.result.signal = 11;
    crash.result.stderr_tail = "loading experts\nSegmentation fault in expert 7\n";
    return crash;
  }
  std::string prompt = MockExecutor::flag(c, "prompt");
  if (prompt != "hello") {  // a JSON-validity prompt
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(100);
    (*reply.metrics)["output_text"] = prompt.find("good") != std::string::npos ? "1}" : "1,";
    return reply;
  }
  double tok_s = MockExecutor::flag(c, "io") == "mmap" ? 130 : 100;
  if (MockExecutor::flag(c, "dequant") == "naive") tok_s = 90;
  tok_s *= 1.0 + 0.01 * (call % 3 - 1);  // a little noise
  MockReply reply = MockExecutor::ok_reply();
  reply.metrics = MockExecutor::engine_metrics(tok_s);
  return reply;
}

class RunnerMockTest : public testing::LabProjectTest {
 protected:
  void SetUp() override {
    LabProjectTest::SetUp();
    testing::write_text(dir_ / "json.txt", "{\"good\": \n{\"bad\": \n");
    testing::write_text(dir_ / "experiments/e.yaml", kExperiment);
  }

  ExperimentSpec load() { return load_file(); }

  RunnerOptions options(bool resume = false) const {
    RunnerOptions o = LabProjectTest::options();
    o.resume = resume;
    return o;
  }

  int64_t count(Store& store, const std::string& table) {
    return to_int(store.query("SELECT COUNT(*) FROM " + table)[0].values[0]);
  }

  std::map<std::string, std::string> verdicts(Store& store) {
    std::map<std::string, std::string> out;
    for (const auto& r : store.query(
             "SELECT v.name, d.verdict FROM verdicts d JOIN variants v ON v.id = d.variant_id"))
      out[to_text(r.values[0])] = to_text(r.values[1]);
    return out;
  }

};

TEST_F(RunnerMockTest, FullExperimentFillsEveryTable) {
  ExperimentSpec spec = load();
  Store store(dir_ / "lab.db");
  int call = 0;
  MockExecutor executor([&](const Command& c) { return engine_reply(c, call++); });
  RunnerSummary summary = Runner(spec, store, executor, options()).run();

  EXPECT_EQ(summary.planned, 12);  // 4 variants x 3 repeats
  EXPECT_EQ(summary.executed, 12);
  EXPECT_EQ(summary.failed, 3);    // the k=2 runs
  for (const char* table : {"experiments", "environment"}) EXPECT_EQ(count(store, table), 1) << table;
  EXPECT_EQ(count(store, "variants"), 4);
  EXPECT_EQ(count(store, "runs"), 12);
  EXPECT_EQ(count(store, "metrics"), 9);
  EXPECT_EQ(count(store, "quality"), 3);  // none for k=2: no successful run to judge
  EXPECT_EQ(count(store, "verdicts"), 4);

  EXPECT_THAT(verdicts(store), ::testing::UnorderedElementsAre(
                                   ::testing::Pair("base", "baseline"), ::testing::Pair("mmap", "keep"),
                                   ::testing::Pair("slow", "discard"), ::testing::Pair("k=2", "crash")));

  // The crash keeps its signal and the tail of stderr; the experiment went on past it.
  auto crash = store.query(
      "SELECT status, signal, stderr_tail, command FROM runs r JOIN variants v ON v.id = "
      "r.variant_id WHERE v.name = 'k=2' LIMIT 1");
  EXPECT_EQ(to_text(crash[0].at("status")), "crash");
  EXPECT_EQ(to_int(crash[0].at("signal")), 11);
  EXPECT_THAT(to_text(crash[0].at("stderr_tail")), HasSubstr("Segmentation fault in expert 7"));
  EXPECT_THAT(to_text(crash[0].at("command")),
              HasSubstr("/opt/fake/streammoe generate --model"));
  EXPECT_THAT(to_text(crash[0].at("command")), HasSubstr("--k 2 --metrics-json"));

  // Raw samples, phases and the full option set are kept.
  auto run = store.query(
      "SELECT r.decode_ms_json, m.decode_tok_s, m.expert_io_wait_ms, m.params_total FROM runs r "
      "JOIN metrics m ON m.run_id = r.id LIMIT 1");
  EXPECT_THAT(to_text(run[0].at("decode_ms_json")), HasSubstr("["));
  EXPECT_GT(to_double(run[0].at("expert_io_wait_ms")), 0);
  EXPECT_EQ(to_int(run[0].at("params_total")), 1200000);
  auto mmap = store.query("SELECT options_json, switches_json FROM variants WHERE name = 'mmap'");
  EXPECT_THAT(to_text(mmap[0].at("options_json")), HasSubstr("\"dequant\":\"fma\""));
  EXPECT_EQ(to_text(mmap[0].at("switches_json")), "{\"io\":\"mmap\"}");

  // Quality: KLD gate fails for the naive variant; JSON validity 1 of 2 prompts.
  auto slow = store.query(
      "SELECT d.reason, q.kld_mean, q.json_valid, q.json_total, q.ppl_ratio FROM verdicts d JOIN "
      "variants v ON v.id = d.variant_id JOIN quality q ON q.variant_id = v.id WHERE v.name = "
      "'slow'");
  EXPECT_THAT(to_text(slow[0].at("reason")), HasSubstr("KLD mean 0.2 > 0.05"));
  EXPECT_EQ(to_int(slow[0].at("json_valid")), 1);
  EXPECT_EQ(to_int(slow[0].at("json_total")), 2);
  EXPECT_NEAR(to_double(slow[0].at("ppl_ratio")), 1.01, 1e-12);
  auto status = store.query("SELECT status, finished_at FROM experiments");
  EXPECT_EQ(to_text(status[0].at("status")), "complete");

  // The reference logits were computed once and cached.
  int dumps = 0;
  // (Each variant's eval also dumps its own logits, for the error bars: those carry --ref-logits.)
  for (const auto& c : executor.calls())
    dumps += MockExecutor::has(c, "--dump-logits") && !MockExecutor::has(c, "--ref-logits");
  EXPECT_EQ(dumps, 1);
}

TEST_F(RunnerMockTest, InterruptedExperimentResumesWithoutDuplicatesOrLosses) {
  ExperimentSpec spec = load();
  int generate_calls = 0;
  {
    Store store(dir_ / "lab.db");
    MockExecutor dying([&](const Command& c) {
      if (c.argv[1] == "generate" && ++generate_calls == 6) throw Interrupted();  // run 6 in flight
      return engine_reply(c, generate_calls);
    });
    EXPECT_THROW(Runner(spec, store, dying, options()).run(), Interrupted);
    EXPECT_EQ(count(store, "runs"), 5);  // the run in flight left nothing behind
    EXPECT_EQ(to_text(store.query("SELECT status FROM experiments")[0].values[0]), "running");
  }
  Store store(dir_ / "lab.db");
  int call = 0;
  MockExecutor executor([&](const Command& c) { return engine_reply(c, call++); });
  RunnerSummary summary = Runner(spec, store, executor, options(/*resume=*/true)).run();
  EXPECT_TRUE(summary.resumed);
  EXPECT_EQ(summary.skipped, 5);
  EXPECT_EQ(summary.executed, 7);
  EXPECT_EQ(count(store, "experiments"), 1);
  EXPECT_EQ(count(store, "environment"), 2);  // one per session
  EXPECT_EQ(count(store, "runs"), 12);
  auto distinct = store.query(
      "SELECT COUNT(*) FROM (SELECT DISTINCT variant_id, model, repeat FROM runs)");
  EXPECT_EQ(to_int(distinct[0].values[0]), 12);
  EXPECT_EQ(count(store, "verdicts"), 4);
  EXPECT_EQ(to_text(store.query("SELECT status FROM experiments")[0].values[0]), "complete");

  // Resuming a finished experiment runs nothing.
  MockExecutor idle([&](const Command& c) { return engine_reply(c, 0); });
  RunnerSummary again = Runner(spec, store, idle, options(true)).run();
  EXPECT_EQ(again.executed, 0);
  EXPECT_EQ(again.skipped, 12);
}

TEST_F(RunnerMockTest, ResumeRefusesAChangedPlan) {
  {
    ExperimentSpec spec = load();
    Store store(dir_ / "lab.db");
    MockExecutor executor([&](const Command& c) { return engine_reply(c, 0); });
    Runner(spec, store, executor, options()).run();
  }
  std::string yaml = kExperiment;
  yaml.replace(yaml.find("repeats: 3"), 10, "repeats: 5");
  testing::write_text(dir_ / "experiments/e.yaml", yaml);
  ExperimentSpec changed = load();
  Store store(dir_ / "lab.db");
  MockExecutor executor([&](const Command& c) { return engine_reply(c, 0); });
  try {
    Runner(changed, store, executor, options(true)).run();
    FAIL() << "resumed a different plan";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot resume experiment 'mock-study'"));
  }
}

TEST_F(RunnerMockTest, PartialOrMissingMetricsAreHandled) {
  testing::write_text(dir_ / "experiments/e.yaml", R"(name: sparse
model: models/tiny
workload: {prompt: hello}
repeats: 2
baseline: base
variants: [{name: base}, {name: nofile, switches: {threads: 2}}]
)");
  ExperimentSpec spec = load();
  Store store(dir_ / "lab.db");
  MockExecutor executor([&](const Command& c) {
    MockReply reply = MockExecutor::ok_reply();
    reply.result.max_rss_kb = 2048;
    if (MockExecutor::flag(c, "threads") == "2") return reply;  // exit 0 but no metrics file
    // An early engine: only per-token samples, no rate, no phases, no model block.
    reply.metrics = nlohmann::json{{"decode_ms", {10.0, 10.0, 30.0}}};
    return reply;
  });
  RunnerSummary summary = Runner(spec, store, executor, options()).run();
  EXPECT_EQ(summary.failed, 2);
  auto ok = store.query("SELECT m.decode_tok_s, m.peak_rss_mb, m.ttft_ms FROM metrics m");
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_DOUBLE_EQ(to_double(ok[0].at("decode_tok_s")), 60.0);  // 3 tokens in 50 ms
  EXPECT_DOUBLE_EQ(to_double(ok[0].at("peak_rss_mb")), 2.0);    // from wait4
  EXPECT_TRUE(is_null(ok[0].at("ttft_ms")));
  auto bad = store.query("SELECT status, stderr_tail FROM runs WHERE status <> 'ok'");
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(to_text(bad[0].at("status")), "error");
  EXPECT_THAT(to_text(bad[0].at("stderr_tail")), HasSubstr("missing or empty"));
  EXPECT_EQ(verdicts(store).at("nofile"), "crash");
}

TEST(PromptArgs, DashLeadingTextIsNotMistakenForAFlag) {
  EXPECT_EQ(prompt_args("--prompt", "hello"), (std::vector<std::string>{"--prompt", "hello"}));
  EXPECT_EQ(prompt_args("--prompt", "- item"), std::vector<std::string>{"--prompt=- item"});
}

TEST_F(RunnerMockTest, DryRunPrintsEveryCommand) {
  ExperimentSpec spec = load();
  std::ostringstream out;
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", out);
  std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("4 variants x 1 models x 3 repeats = 12 runs"));
  EXPECT_THAT(text, HasSubstr("/opt/fake/streammoe generate --model"));
  EXPECT_THAT(text, HasSubstr("--io mmap"));
  // header, variants, runs, quality suite, then the estimated time and disk space.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1 + 4 + 12 + 1 + 2);
}

TEST_F(RunnerMockTest, DryRunEstimatesTimeAndDiskFromEarlierRuns) {
  ExperimentSpec spec = load();
  std::ostringstream before;
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", before);
  EXPECT_THAT(before.str(), HasSubstr("estimated time: unknown, no earlier run of these models"));
  // 12 runs at 600 s and 13 quality commands (4 x (1 eval + 2 JSON prompts) + 1 reference) at
  // 4 x 600 s.
  EXPECT_THAT(before.str(), HasSubstr("(25 commands; at most 10.7 h if every one ran to its timeout)"));
  EXPECT_THAT(before.str(), HasSubstr("estimated disk: "));
  EXPECT_THAT(before.str(), HasSubstr("of database rows"));
  Store store(dir_ / "lab.db");
  MockExecutor executor([](const Command& c) {
    MockReply reply = engine_reply(c, 0);
    reply.result.wall_ms = 4000;
    return reply;
  });
  Runner(spec, store, executor, options()).run();
  std::ostringstream after;
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", after, &store);
  // Per variant 3 runs at the 4 s the earlier runs took (k=2 crashed every time: the model's
  // other runs stand in) and 13 quality commands at 2 s each: 4 x 3 x 4 s + 13 x 2 s.
  EXPECT_THAT(after.str(), HasSubstr("estimated time: about 74 s from the median duration of "
                                     "earlier runs"));
}

TEST_F(RunnerMockTest, PackedVariantModelsArePackedOnceAndComparedOnTheSameModel) {
  testing::write_text(dir_ / "experiments/packed.yaml", R"(name: widths
model: models/tiny
workload: {prompt: hello, tokens: 16}
repeats: 2
cache: warm
baseline: four
variants:
  - name: four
    model: {pack: {from: models/tiny, bits: 4}}
  - name: two
    model: {pack: {from: models/tiny, bits: 2}}
quality:
  ids: [1, 2, 3, 4]
  max_tokens: 4
)");
  SpecOptions spec_options;
  spec_options.catalog = &catalog_;
  ExperimentSpec spec = load_experiment(dir_ / "experiments/packed.yaml", spec_options);
  ASSERT_EQ(spec.packs.size(), 2u);
  std::ostringstream plan_text;
  print_plan(spec, "/opt/fake/streammoe", dir_ / "builds", plan_text);
  EXPECT_THAT(plan_text.str(), HasSubstr("prepare (to pack): "));
  EXPECT_THAT(plan_text.str(), HasSubstr("--model " + spec.packs[1].folder.string()));
  EXPECT_THAT(plan_text.str(), HasSubstr("to pack " + spec.packs[1].folder.filename().string()));

  int packs = 0;
  MockExecutor executor([&](const Command& c) {
    if (c.argv[1] == "pack") {
      ++packs;
      testing::write_text(std::filesystem::path(MockExecutor::flag(c, "out")) / "packed.json", "{}");
      return MockExecutor::ok_reply();
    }
    return engine_reply(c, 0);
  });
  Store store(dir_ / "lab.db");
  for (int session = 0; session < 2; ++session) {
    RunnerSummary summary = Runner(spec, store, executor, options()).run();
    EXPECT_EQ(summary.failed, 0);
  }
  EXPECT_EQ(packs, 2);  // two recipes, each packed in the first session only

  // Runs read the packed folders but are stored under the experiment's model.
  auto runs = store.query("SELECT v.name, r.model, r.command FROM runs r JOIN variants v "
                          "ON v.id = r.variant_id WHERE r.experiment_id = 1");
  ASSERT_EQ(runs.size(), 4u);
  for (const auto& run : runs) {
    EXPECT_EQ(to_text(run.at("model")), "models/tiny");
    const PackRecipe& pack = to_text(run.at("name")) == "four" ? spec.packs[0] : spec.packs[1];
    EXPECT_THAT(to_text(run.at("command")), HasSubstr("--model " + pack.folder.string() + " "));
  }
  // The quality suite evaluates each variant's own folder against the unpacked model.
  int evals_of_two = 0;
  for (const auto& c : executor.calls())
    if (c.argv[1] == "eval" && MockExecutor::has(c, "--ref-logits"))
      evals_of_two += MockExecutor::flag(c, "model") == spec.packs[1].folder.string();
  EXPECT_EQ(evals_of_two, 2);  // once per session: each session is a new experiment
  EXPECT_EQ(verdicts(store).size(), 2u);

  // Provenance: what was packed, from what, by which command, and whether it was reused.
  for (int id : {1, 2}) {
    auto plan = nlohmann::json::parse(to_text(
        store.query("SELECT plan_json FROM experiments WHERE id = ?", {int64_t{id}})[0].at("plan_json")));
    ASSERT_EQ(plan["prepared_models"].size(), 2u);
    EXPECT_EQ(plan["prepared_models"][1]["bits"], 2);
    EXPECT_THAT(plan["prepared_models"][1]["command"].get<std::string>(), HasSubstr(" pack --hf "));
    EXPECT_EQ(plan["prepared_models"][0]["reused"], id == 2);
  }
}

}  // namespace
}  // namespace streammoe::lab
