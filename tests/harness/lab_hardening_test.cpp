// The lab's findings of the adversarial review (issue 12, point 8, and the run cap of point 7),
// each with a regression test: a foreign database is told apart before anything is written, a
// reader never writes, two processes cannot run one experiment at once, free text is escaped in
// results.md, leftovers of a killed lab are removed, a huge matrix is refused before it is
// expanded, and a run whose numbers are not finite is an error.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "harness/experiment_lock.h"
#include "harness/mock_executor.h"
#include "harness/run_record.h"
#include "harness/runner.h"
#include "harness/scratch_file.h"
#include "lab_fixture.h"
#include "report/exporter.h"
#include "tests/common/error_of.h"

namespace streammoe::lab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using streammoe::testing::error_of;
using ::testing::Not;
using testing::TempDir;

// A database another program made: one table, rollback journal, no schema version.
void make_foreign(const fs::path& path) {
  SqliteDb db(path);
  db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)");
  db.exec("INSERT INTO notes (text) VALUES ('mine')");
}

TEST(DatabaseCheck, EmptyLabForeignAndDamagedAreToldApart) {
  TempDir dir;
  {
    SqliteDb empty(dir / "empty.db");
    EXPECT_EQ(check_database(empty, lab_schema()).kind, DatabaseCheck::Kind::kEmpty);
  }
  make_foreign(dir / "foreign.db");
  SqliteDb foreign(dir / "foreign.db", SqliteDb::Access::kReadOnly);
  DatabaseCheck f = check_database(foreign, lab_schema());
  EXPECT_EQ(f.kind, DatabaseCheck::Kind::kForeign);
  EXPECT_THAT(f.problem, HasSubstr("it has tables notes and no schema version"));
  { Store lab(dir / "lab.db"); }
  SqliteDb lab(dir / "lab.db", SqliteDb::Access::kReadOnly);
  EXPECT_EQ(check_database(lab, lab_schema()).kind, DatabaseCheck::Kind::kLab);
  // Another program that happens to set a user_version and a table named runs.
  {
    SqliteDb other(dir / "other.db");
    other.exec("CREATE TABLE runs (id INTEGER PRIMARY KEY, what TEXT)");
    other.exec("PRAGMA user_version = 2");
  }
  SqliteDb other(dir / "other.db", SqliteDb::Access::kReadOnly);
  DatabaseCheck o = check_database(other, lab_schema());
  EXPECT_EQ(o.kind, DatabaseCheck::Kind::kForeign);
  EXPECT_THAT(o.problem, HasSubstr("it has no table experiments"));
}

TEST(DatabaseCheck, ReadingChangesNothingAndRefusesForeignOrOlder) {
  TempDir dir;
  make_foreign(dir / "foreign.db");
  std::string before = testing::read_text(dir / "foreign.db");
  EXPECT_THAT(error_of([&] { Store::read_only(dir / "foreign.db"); }),
              HasSubstr("foreign.db: not a streammoe-lab database: it has tables notes and no "
                        "schema version; nothing was changed"));
  EXPECT_EQ(testing::read_text(dir / "foreign.db"), before);
  EXPECT_FALSE(fs::exists(dir / "foreign.db-wal"));
  // Writing refuses it too, before switching its journal or creating a table.
  EXPECT_THAT(error_of([&] { Store store(dir / "foreign.db"); }),
              HasSubstr("not a streammoe-lab database"));
  EXPECT_EQ(testing::read_text(dir / "foreign.db"), before);
  SqliteDb raw(dir / "foreign.db", SqliteDb::Access::kReadOnly);
  EXPECT_EQ(to_text(raw.query("PRAGMA journal_mode")[0].values[0]), "delete");
  EXPECT_EQ(to_int(raw.query("SELECT COUNT(*) FROM sqlite_master")[0].values[0]), 1);

  { Store old(dir / "old.db", schema_at(lab_schema(), 2)); }
  EXPECT_THAT(error_of([&] { Store::read_only(dir / "old.db"); }),
              HasSubstr("schema version 2 is older than this lab's"));
  EXPECT_THAT(error_of([&] { Store::read_only(dir / "missing-tables-but-empty.db"); }),
              HasSubstr("cannot open database"));
  { Store migrated(dir / "old.db"); }  // `migrate` or a run upgrades it
  EXPECT_EQ(Store::read_only(dir / "old.db").version_on_disk(), lab_schema().version);
}

TEST(DatabaseCheck, ADamagedLabDatabaseIsFoundWhenOpenedNotAtTheFirstInsert) {
  TempDir dir;
  { Store store(dir / "lab.db"); }
  {
    SqliteDb db(dir / "lab.db");
    db.exec("ALTER TABLE metrics RENAME TO metrics_old");
    db.exec("CREATE TABLE metrics (run_id INTEGER PRIMARY KEY)");
  }
  EXPECT_THAT(error_of([&] { Store store(dir / "lab.db"); }),
              HasSubstr("a damaged lab database: its table metrics has no column prompt_tokens"));
}

class LockTest : public testing::LabProjectTest {
 protected:
  void SetUp() override {
    LabProjectTest::SetUp();
    spec_ = load("name: locked\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 1\n"
                 "baseline: b\nvariants: [{name: b}]\n");
  }
  RunnerOptions options(bool resume) const {
    RunnerOptions o = LabProjectTest::options();
    o.resume = resume;
    return o;
  }
  ExperimentSpec spec_;
};

TEST_F(LockTest, ASecondProcessOnTheSameExperimentGetsAClearMessage) {
  Store store(dir_ / "lab.db");
  MockExecutor executor([](const Command&) {
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(100);
    return reply;
  });
  Runner first(spec_, store, executor, options(false));
  Session running = first.open_experiment({}, 1);  // the first process, mid-experiment
  Store other_store(dir_ / "lab.db");
  std::string error =
      error_of([&] { Runner(spec_, other_store, executor, options(true)).run(); });
  EXPECT_THAT(error, HasSubstr("experiment 'locked' is being run by another streammoe-lab "
                               "process (#1, pid " + std::to_string(getpid())));
  EXPECT_THAT(error, Not(HasSubstr("UNIQUE")));
  EXPECT_TRUE(executor.calls().empty());
  // Another experiment in the same database is not held up.
  EXPECT_TRUE(ExperimentLock::try_lock(dir_ / "lab.db", "another").has_value());
  running = Session{};  // the first process ends: its lock goes with it
  RunnerSummary summary = Runner(spec_, other_store, executor, options(true)).run();
  EXPECT_TRUE(summary.resumed);
  EXPECT_EQ(summary.executed, 1);
}

TEST(Markdown, NamesAndHypothesesAreEscapedLikeTheHtml) {
  LabResults results;
  ExperimentResults e;
  e.id = 1;
  e.name = "<img src=x onerror=alert(1)>";
  e.hypothesis = "a <script>alert(2)</script>\n## not a heading & more";
  results.experiments.push_back(e);
  std::string md = MarkdownExporter().render(results);
  EXPECT_THAT(md, HasSubstr("## &lt;img src=x onerror=alert(1)&gt; (#1)"));
  EXPECT_THAT(md, HasSubstr("a &lt;script&gt;alert(2)&lt;/script&gt; ## not a heading &amp; more"));
  EXPECT_THAT(md, Not(HasSubstr("<script>")));
  EXPECT_THAT(md, Not(HasSubstr("\n## not a heading")));
}

TEST(Leftovers, OnlyThoseOfDeadProcessesAreRemoved) {
  TempDir dir;
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);  // a pid that no longer runs
  testing::write_text(dir / fmt::format("ref-1.npy.partial-{}", child), "half");
  testing::write_text(dir / fmt::format("m-q4.packing-{}/x", child), "half");
  testing::write_text(dir / fmt::format("ref-2.npy.partial-{}", getpid()), "ours, in progress");
  testing::write_text(dir / "ref-3.npy", "finished");
  remove_leftovers(dir.path(), "partial");
  remove_leftovers(dir.path(), "packing");
  EXPECT_FALSE(fs::exists(dir / fmt::format("ref-1.npy.partial-{}", child)));
  EXPECT_FALSE(fs::exists(dir / fmt::format("m-q4.packing-{}", child)));
  EXPECT_TRUE(fs::exists(dir / fmt::format("ref-2.npy.partial-{}", getpid())));
  EXPECT_TRUE(fs::exists(dir / "ref-3.npy"));
}

TEST(ScratchFile, AChildWritesItByNameAndNothingIsOnDisk) {
  ScratchFile scratch("test");
  EXPECT_THAT(scratch.path().string(), HasSubstr("/proc/self/fd/"));
  SubprocessExecutor executor;
  Command command;
  command.argv = {"/bin/sh", "-c", "printf '{\"a\": 1}' > " + scratch.path().string()};
  ASSERT_TRUE(executor.execute(command).ok());
  EXPECT_EQ(scratch.read(), "{\"a\": 1}");
  scratch.clear();
  EXPECT_EQ(scratch.read(), "");
}

TEST(RunCap, AHugeMatrixIsRefusedBeforeItIsExpanded) {
  TempDir dir;
  testing::make_project(dir.path());
  std::string values;
  for (int i = 1; i <= 100; ++i) values += (i > 1 ? ", " : "") + std::to_string(i);
  // 100^4 = 10^8 variants: expanding them would take minutes and gigabytes.
  std::string yaml = "name: huge\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 5\n"
                     "baseline: b\nvariants: [{name: b}]\nmatrix:\n  switches:\n"
                     "    k: [" + values + "]\n    threads: [" + values + "]\n"
                     "    io-threads: [" + values + "]\n    cache-entries: [" + values + "]\n";
  testing::write_text(dir / "e.yaml", yaml);
  SwitchCatalog catalog = testing::fixture_catalog();
  SpecOptions options;
  options.catalog = &catalog;
  std::string error = error_of([&] { load_experiment(dir / "e.yaml", options); });
  EXPECT_THAT(error, HasSubstr(":8:3: this experiment plans 500000005 runs (100000001 variants x 1 "
                               "model x 5 repeats), more than the cap of 5000"));
  EXPECT_THAT(error, HasSubstr("'max_runs: 500000005' in the file or --max-runs 500000005"));

  // A matrix just over the cap, then allowed by the file, then by the command line.
  std::string small = "name: small\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 50\n"
                      "baseline: b\nvariants: [{name: b}]\nmatrix:\n  switches: {k: [" + values + "]}\n";
  testing::write_text(dir / "s.yaml", small);
  EXPECT_THAT(error_of([&] { load_experiment(dir / "s.yaml", options); }),
              HasSubstr("plans 5050 runs (101 variants x 1 model x 50 repeats)"));
  testing::write_text(dir / "s.yaml", small + "max_runs: 6000\n");
  EXPECT_EQ(plan_runs(load_experiment(dir / "s.yaml", options)).size(), 5050u);
  testing::write_text(dir / "s.yaml", small);
  options.max_runs = 5050;
  EXPECT_EQ(load_experiment(dir / "s.yaml", options).variants.size(), 101u);
}

TEST(NonFinite, AnEngineErrorOrANonFiniteCountIsAnErrorNotOk) {
  ExecResult failed;
  failed.kind = ExitKind::kExited;
  failed.exit_code = 1;
  failed.stderr_tail = "streammoe: error: non-finite activations after layer 3 at token 5\n";
  RunRecord engine_error = judge_run(failed, false, "{\"decode_tok_s\": 500}", "m");
  EXPECT_EQ(engine_error.status, "error");
  EXPECT_FALSE(engine_error.metrics.has_value());
  EXPECT_THAT(engine_error.outcome(), HasSubstr("non-finite activations after layer 3 at token 5"));

  ExecResult ok;
  ok.kind = ExitKind::kExited;
  ok.exit_code = 0;
  RunRecord counted = judge_run(ok, false, "{\"decode_tok_s\": 500, \"nonfinite\": 3}", "m");
  EXPECT_EQ(counted.status, "error");
  EXPECT_THAT(counted.stderr_tail, HasSubstr("[lab] the engine reported 3 non-finite values"));
  EXPECT_EQ(judge_run(ok, false, "{\"nonfinite\": {\"count\": 1}}", "m").status, "error");
  EXPECT_EQ(judge_run(ok, false, "{\"decode_tok_s\": 5, \"nonfinite\": 0}", "m").status, "ok");
}

TEST_F(LockTest, NonFiniteRunsAreStoredAsErrorsAndTheVariantIsNotKept) {
  testing::write_text(dir_ / "experiments/e.yaml",
                      "name: nan\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 2\n"
                      "baseline: b\nvariants: [{name: b}, {name: nan, switches: {k: 2}}, "
                      "{name: counted, switches: {k: 4}}]\nquality: {ids: [1, 2, 3]}\n");
  SpecOptions spec_options;
  spec_options.catalog = &catalog_;
  ExperimentSpec spec = load_experiment(dir_ / "experiments/e.yaml", spec_options);
  MockExecutor executor([](const Command& c) {
    if (c.argv[1] == "eval")
      return MockExecutor::ok_reply(MockExecutor::has(c, "--ref-logits")
                                        ? nlohmann::json{{"kld_mean", 0.0}, {"nonfinite", 7}}.dump()
                                        : "");
    MockReply reply = MockExecutor::ok_reply();
    if (MockExecutor::flag(c, "k") == "2") {
      reply.result.exit_code = 1;
      reply.result.stderr_tail = "streammoe: error: non-finite activations after layer 3 at token 5\n";
    }
    reply.metrics = MockExecutor::engine_metrics(900);  // fast, because it computed garbage
    if (MockExecutor::flag(c, "k") == "4") (*reply.metrics)["nonfinite"] = 12;
    return reply;
  });
  Store store(dir_ / "lab.db");
  Runner(spec, store, executor, options(false)).run();
  auto runs = store.query(
      "SELECT v.name, r.status, r.stderr_tail FROM runs r JOIN variants v ON v.id = r.variant_id "
      "WHERE v.name <> 'b' ORDER BY v.name");
  ASSERT_EQ(runs.size(), 4u);
  for (const auto& r : runs) EXPECT_EQ(to_text(r.at("status")), "error");
  EXPECT_THAT(to_text(runs[0].at("stderr_tail")), HasSubstr("12 non-finite values"));
  EXPECT_THAT(to_text(runs[2].at("stderr_tail")), HasSubstr("non-finite activations after layer 3"));
  EXPECT_EQ(to_int(store.query("SELECT COUNT(*) FROM metrics")[0].values[0]), 2);  // the baseline's
  auto verdicts = store.query(
      "SELECT v.name, d.verdict FROM verdicts d JOIN variants v ON v.id = d.variant_id ORDER BY v.name");
  EXPECT_EQ(to_text(verdicts[1].at("verdict")), "crash");  // counted
  EXPECT_EQ(to_text(verdicts[2].at("verdict")), "crash");  // nan
  auto quality = store.query("SELECT status, error FROM quality");
  ASSERT_EQ(quality.size(), 1u);  // the baseline's: the others had no good run
  EXPECT_EQ(to_text(quality[0].at("status")), "error");
  EXPECT_THAT(to_text(quality[0].at("error")), HasSubstr("eval: 7 non-finite values"));
}

}  // namespace
}  // namespace streammoe::lab
