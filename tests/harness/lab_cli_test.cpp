// streammoe-lab as a program, against tests/harness/data/fake_streammoe.sh: help and errors,
// a crashing, a hanging and a failing variant recorded while the experiment goes on, and the
// lab SIGKILLed mid-experiment then finished by --resume with no duplicated or lost runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

#include <nlohmann/json.hpp>

#include "harness/executor.h"
#include "harness/store.h"

#include <fmt/format.h>
#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::string lab() { return (testing::bin_dir() / "streammoe-lab").string(); }
std::string fake_engine() { return (testing::data_dir() / "fake_streammoe.sh").string(); }

ExecResult run_lab(std::vector<std::string> args, std::vector<std::string> env = {},
                   double timeout_s = 120) {
  SubprocessExecutor executor;
  Command command;
  command.argv = {"/usr/bin/env"};
  for (auto& e : env) command.argv.push_back(e);
  command.argv.push_back(lab());
  for (auto& a : args) command.argv.push_back(a);
  command.timeout_s = timeout_s;
  return executor.execute(command);
}

class LabCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(lab())) GTEST_SKIP() << lab() << " is not built";
    testing::make_project(dir_.path());
    testing::write_text(dir_ / "json.txt", "{\"good\": \n{\"bad\": \n");
  }

  std::string write_experiment(const std::string& yaml) {
    testing::write_text(dir_ / "experiments/e.yaml", yaml);
    return (dir_ / "experiments/e.yaml").string();
  }

  std::vector<std::string> run_args(const std::string& spec) {
    // The machine profile has its own test below; these runs need not measure it.
    return {"run", spec, "--db", (dir_ / "lab.db").string(), "--engine", fake_engine(),
            "--no-machine-profile"};
  }

  int64_t scalar(const std::string& sql) {
    Store store(dir_ / "lab.db");
    return to_int(store.query(sql)[0].values[0]);
  }

  TempDir dir_;
};

TEST_F(LabCliTest, HelpForEverySubcommand) {
  ExecResult top = run_lab({"--help"});
  EXPECT_TRUE(top.ok());
  for (const char* sub : {"run", "report", "list", "show", "compare"}) EXPECT_THAT(top.stdout_text, HasSubstr(sub));
  for (const char* sub : {"run", "report", "list", "show", "compare"}) {
    ExecResult r = run_lab({sub, "--help"});
    EXPECT_TRUE(r.ok()) << sub;
    EXPECT_THAT(r.stdout_text, HasSubstr("--db")) << sub;
  }
  EXPECT_THAT(run_lab({"run", "--help"}).stdout_text, HasSubstr("--resume"));
  EXPECT_THAT(run_lab({"run", "--help"}).stdout_text, HasSubstr("--dry-run"));
}

TEST_F(LabCliTest, BadYamlIsOneLineNamingFileAndLine) {
  std::string spec = write_experiment(
      "name: x\nmodel: models/tiny\nworkload: {prompt: hi}\nbaseline: b\nvariants: [{name: b}]\n"
      "repetitions: 2\n");
  ExecResult r = run_lab(run_args(spec));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.stderr_tail, "streammoe-lab: error: " + spec +
                               ":6:1: unknown key 'repetitions' in the experiment (allowed: name, "
                               "hypothesis, track, root, model, models, workload, repeats, cache, "
                               "drop_caches, memory_budget, timeout_s, order, baseline, variants, "
                               "matrix, quality, keep, max_runs, min_time_s, max_repeats, warmup, "
                               "quality_model, routing)\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "lab.db"));  // nothing was run or written
}

TEST_F(LabCliTest, FailuresAreRecordedAndTheExperimentGoesOn) {
  std::string spec = write_experiment(R"(name: failures
model: models/tiny
workload: {prompt: hello, tokens: 8}
repeats: 2
timeout_s: 1.5
baseline: base
variants:
  - name: base
  - mmap
  - name: crashes
    switches: {k: 2}
  - name: hangs
    switches: {threads: 4}
  - name: refused
    switches: {io: direct}
quality:
  ids: [1, 2, 3]
  json_prompts: json.txt
)");
  ExecResult r = run_lab(run_args(spec), {"FAKE_ENGINE_CRASH_IF=k=2", "FAKE_ENGINE_HANG_IF=threads=4",
                                          "FAKE_ENGINE_FAIL_IF=io=direct"});
  // Every run is recorded; the exit status and its one error line say that some failed.
  ASSERT_EQ(r.exit_code, 1) << describe(r) << r.stderr_tail;
  EXPECT_THAT(r.stderr_tail, HasSubstr("streammoe-lab: error: 6 of 10 runs failed, recorded as errors"));
  // The results table on stdout, a line per run on stderr (not a terminal).
  EXPECT_THAT(r.stdout_text, HasSubstr("| mmap |"));
  EXPECT_THAT(r.stdout_text, HasSubstr("10 runs planned, 10 run now, 0 already recorded, 6 failed"));
  EXPECT_THAT(r.stderr_tail, HasSubstr("[10/10]"));
  Store store(dir_ / "lab.db");
  auto statuses = store.query(
      "SELECT v.name, r.status, r.signal, r.exit_code, r.stderr_tail FROM runs r JOIN variants v "
      "ON v.id = r.variant_id WHERE r.repeat = 0 ORDER BY v.ordinal");
  ASSERT_EQ(statuses.size(), 5u);
  EXPECT_EQ(to_text(statuses[1].at("status")), "ok");
  EXPECT_EQ(to_text(statuses[2].at("status")), "crash");
  EXPECT_EQ(to_int(statuses[2].at("signal")), SIGSEGV);
  EXPECT_THAT(to_text(statuses[2].at("stderr_tail")), HasSubstr("segmentation fault while reading expert 7"));
  EXPECT_EQ(to_text(statuses[3].at("status")), "timeout");
  EXPECT_EQ(to_text(statuses[4].at("status")), "error");
  EXPECT_EQ(to_int(statuses[4].at("exit_code")), 1);
  EXPECT_THAT(to_text(statuses[4].at("stderr_tail")), HasSubstr("--io: this value is not supported"));
  auto verdicts = store.query(
      "SELECT v.name, d.verdict FROM verdicts d JOIN variants v ON v.id = d.variant_id ORDER BY "
      "v.ordinal");
  std::vector<std::string> got;
  for (const auto& v : verdicts) got.push_back(to_text(v.values[0]) + "=" + to_text(v.values[1]));
  EXPECT_THAT(got, ::testing::ElementsAre("base=baseline", "mmap=keep", "crashes=crash",
                                          "hangs=crash", "refused=crash"));
  auto quality = store.query(
      "SELECT q.status, q.json_valid, q.json_total, q.kld_mean FROM quality q JOIN variants v ON "
      "v.id = q.variant_id WHERE v.name = 'mmap'");
  EXPECT_EQ(to_text(quality[0].at("status")), "ok");
  EXPECT_EQ(to_int(quality[0].at("json_valid")), 1);
  EXPECT_EQ(to_int(quality[0].at("json_total")), 2);

  ExecResult shown = run_lab({"show", "failures", "--db", (dir_ / "lab.db").string()});
  EXPECT_THAT(shown.stdout_text, HasSubstr("hangs rep 1 on models/tiny: timeout"));
  ExecResult listed = run_lab({"list", "--db", (dir_ / "lab.db").string()});
  EXPECT_THAT(listed.stdout_text, HasSubstr("failures"));
}

TEST_F(LabCliTest, OomKilledRunIsRecordedAsOom) {
  std::string spec = write_experiment(R"(name: budget
model: models/tiny
workload: {prompt: hello}
repeats: 1
memory_budget: 64MiB
baseline: base
variants: [{name: base}, {name: hog, switches: {k: 8}}]
)");
  ExecResult r = run_lab(run_args(spec), {"FAKE_ENGINE_HOG_IF=k=8"});
  Store store(dir_ / "lab.db");
  auto env = store.query("SELECT budget_enforced, budget_mechanism, budget_note FROM environment");
  ASSERT_EQ(env.size(), 1u) << describe(r) << r.stderr_tail;
  if (to_int(env[0].at("budget_enforced")) == 0)
    GTEST_SKIP() << "memory budget not enforceable here: " << to_text(env[0].at("budget_note"));
  ASSERT_EQ(r.exit_code, 1) << describe(r) << r.stderr_tail;  // the oom run failed
  EXPECT_THAT(to_text(env[0].at("budget_mechanism")), ::testing::StartsWith("cgroup-v"));
  auto runs = store.query(
      "SELECT v.name, r.status FROM runs r JOIN variants v ON v.id = r.variant_id ORDER BY v.ordinal");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(to_text(runs[0].at("status")), "ok");
  EXPECT_EQ(to_text(runs[1].at("status")), "oom");
  EXPECT_THAT(r.stdout_text, HasSubstr("oom x1"));
}

TEST_F(LabCliTest, KilledLabResumesWithoutDuplicatedOrLostRuns) {
  std::string spec = write_experiment(R"(name: resumable
model: models/tiny
workload: {prompt: hello}
repeats: 3
baseline: base
variants: [{name: base}, mmap, {name: naive, switches: {dequant: naive}}]
)");
  std::string counter = (dir_ / "engine-runs.txt").string();
  std::filesystem::create_directories(dir_ / "tmp");
  ExecResult killed = run_lab(run_args(spec), {"FAKE_ENGINE_COUNTER=" + counter,
                                               "FAKE_ENGINE_KILL_PARENT_AT=5",
                                               "TMPDIR=" + (dir_ / "tmp").string()});
  ASSERT_EQ(killed.kind, ExitKind::kSignaled) << describe(killed) << killed.stderr_tail;
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM runs"), 4);  // run 5 was in flight when the lab died
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM experiments WHERE status = 'running'"), 1);
  // Nothing of the killed lab is left in the temporary folder (the metrics live in a memfd).
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "tmp"));

  std::vector<std::string> args = run_args(spec);
  args.push_back("--resume");
  ExecResult resumed = run_lab(args, {"FAKE_ENGINE_COUNTER=" + counter});
  ASSERT_TRUE(resumed.ok()) << describe(resumed) << resumed.stderr_tail;
  EXPECT_THAT(resumed.stderr_tail, HasSubstr("4 runs already recorded, skipped"));
  EXPECT_THAT(resumed.stdout_text, HasSubstr("9 runs planned, 5 run now, 4 already recorded, 0 failed"));
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM experiments"), 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM runs"), 9);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM (SELECT DISTINCT variant_id, model, repeat FROM runs)"), 9);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM runs WHERE status <> 'ok'"), 0);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM experiments WHERE status = 'complete'"), 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM verdicts"), 3);
  EXPECT_EQ(testing::read_text(counter), "10\n");  // 5 in the first session (one lost), 5 now
  EXPECT_EQ(scalar("PRAGMA integrity_check"), 0);  // "ok" reads as 0
}

TEST_F(LabCliTest, ProfilePrintsAndCachesTheMachineProfile) {
  testing::write_text(dir_ / "models/tiny/model.safetensors", std::string(1 << 20, 'x'));
  std::vector<std::string> args = {"profile", "--model", (dir_ / "models/tiny").string(),
                                   "--profile-cache", (dir_ / "profiles.json").string(), "--json"};
  ExecResult first = run_lab(args);
  ASSERT_TRUE(first.ok()) << describe(first) << first.stderr_tail;
  auto j = nlohmann::json::parse(first.stdout_text);
  EXPECT_EQ(j["reused"], false);
  EXPECT_GT(j["ram_read_gbps"].get<double>(), 0);
  EXPECT_EQ(j["block_bytes"], 1 << 20);  // the config names no expert size: 1 MiB
  ExecResult second = run_lab(args);
  EXPECT_EQ(nlohmann::json::parse(second.stdout_text)["reused"], !j["boot_id"].get<std::string>().empty());

  // A run stores the session's profile with its environment.
  std::string spec = write_experiment(
      "name: tiny\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 1\nbaseline: base\n"
      "variants: [{name: base}]\n");
  ExecResult r = run_lab({"run", spec, "--db", (dir_ / "lab.db").string(), "--engine",
                          fake_engine(), "--profile-cache", (dir_ / "profiles.json").string()});
  ASSERT_TRUE(r.ok()) << r.stderr_tail;
  EXPECT_THAT(r.stderr_tail, HasSubstr("machine: disk"));
  EXPECT_GT(to_double(Store(dir_ / "lab.db").query("SELECT ram_read_gbps FROM environment")[0].values[0]), 0);
}

TEST_F(LabCliTest, ReadersRefuseAForeignDatabaseAndChangeNothing) {
  std::filesystem::path foreign = dir_ / "notes.db";
  {
    SqliteDb db(foreign);
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)");
  }
  std::string before = testing::read_text(foreign);
  const std::string expected = "streammoe-lab: error: " + foreign.string() +
                               ": not a streammoe-lab database: it has tables notes and no schema "
                               "version; nothing was changed";
  for (std::vector<std::string> args :
       {std::vector<std::string>{"report", "--out", (dir_ / "report").string()},
        std::vector<std::string>{"list"}, std::vector<std::string>{"show", "x"},
        std::vector<std::string>{"compare", "x", "y"}}) {
    args.push_back("--db");
    args.push_back(foreign.string());
    ExecResult r = run_lab(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_EQ(r.stderr_tail, expected + "\n") << args[0];
  }
  EXPECT_EQ(testing::read_text(foreign), before);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "notes.db-wal"));
  SqliteDb check(foreign, SqliteDb::Access::kReadOnly);
  EXPECT_EQ(to_int(check.query("SELECT COUNT(*) FROM sqlite_master")[0].values[0]), 1);
  EXPECT_EQ(to_int(check.query("PRAGMA user_version")[0].values[0]), 0);
  EXPECT_EQ(to_text(check.query("PRAGMA journal_mode")[0].values[0]), "delete");

  // A run into it is refused before any engine runs.
  std::string spec = write_experiment(
      "name: tiny\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 2\nbaseline: base\n"
      "variants: [{name: base}]\n");
  std::string counter = (dir_ / "engine-runs.txt").string();
  ExecResult r = run_lab({"run", spec, "--db", foreign.string(), "--engine", fake_engine(),
                          "--no-machine-profile"},
                         {"FAKE_ENGINE_COUNTER=" + counter});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.stderr_tail, HasSubstr("not a streammoe-lab database"));
  EXPECT_FALSE(std::filesystem::exists(counter));
  EXPECT_EQ(testing::read_text(foreign), before);
}

TEST_F(LabCliTest, ReportLeavesALabDatabaseAsItWasAndMigrateUpgradesAnOldOne) {
  std::string spec = write_experiment(
      "name: tiny\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 2\nbaseline: base\n"
      "variants: [{name: base}, mmap]\n");
  ASSERT_TRUE(run_lab(run_args(spec)).ok());
  std::string db = (dir_ / "lab.db").string();
  std::string main_file = testing::read_text(db), wal = testing::read_text(db + "-wal");
  ASSERT_TRUE(run_lab({"report", "--db", db, "--out", (dir_ / "report").string()}).ok());
  ASSERT_TRUE(run_lab({"list", "--db", db}).ok());
  EXPECT_EQ(testing::read_text(db), main_file);
  EXPECT_EQ(testing::read_text(db + "-wal"), wal);

  std::filesystem::path old = dir_ / "old.db";
  { Store v2(old, schema_at(lab_schema(), 2)); }
  ExecResult refused = run_lab({"list", "--db", old.string()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.stderr_tail, HasSubstr("older than this lab's"));
  EXPECT_THAT(refused.stderr_tail, HasSubstr("streammoe-lab migrate --db " + old.string()));
  ExecResult migrated = run_lab({"migrate", "--db", old.string()});
  ASSERT_TRUE(migrated.ok()) << migrated.stderr_tail;
  EXPECT_EQ(migrated.stdout_text,
            fmt::format("{}: schema version {}\n", old.string(), lab_schema().version));
  EXPECT_TRUE(run_lab({"list", "--db", old.string()}).ok());
}

TEST_F(LabCliTest, RerunRepeatsAnExperimentFromItsStoredYaml) {
  std::string spec = write_experiment(
      "name: again\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 3\nbaseline: base\n"
      "variants: [{name: base}, mmap, {name: naive, switches: {dequant: naive}}]\n");
  ASSERT_TRUE(run_lab(run_args(spec)).ok());
  std::filesystem::remove(spec);  // what ran is in the database
  std::string db = (dir_ / "lab.db").string();
  ExecResult r = run_lab({"run", "--rerun", "again", "--db", db, "--engine", fake_engine(),
                          "--no-machine-profile"});
  ASSERT_TRUE(r.ok()) << describe(r) << r.stderr_tail;
  EXPECT_THAT(r.stdout_text, HasSubstr("## again (#2)"));
  EXPECT_THAT(r.stdout_text, HasSubstr("rerun of #1: 2 of 2 verdicts reproduced (100%)"));
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM experiments"), 2);
  EXPECT_EQ(scalar("SELECT rerun_of FROM experiments WHERE id = 2"), 1);
  ExecResult neither = run_lab({"run", "--db", db, "--engine", fake_engine()});
  EXPECT_EQ(neither.exit_code, 1);
  EXPECT_THAT(neither.stderr_tail, HasSubstr("give an experiment FILE or --rerun EXP"));
  ExecResult resume = run_lab({"run", "--rerun", "again", "--resume", "--db", db, "--engine",
                               fake_engine()});
  EXPECT_THAT(resume.stderr_tail, HasSubstr("does not take --resume"));
}

TEST_F(LabCliTest, ReportWritesThreeFiles) {
  std::string spec = write_experiment(
      "name: tiny\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 2\nbaseline: base\n"
      "variants: [{name: base}, mmap]\n");
  ASSERT_TRUE(run_lab(run_args(spec)).ok());
  ExecResult r = run_lab({"report", "--db", (dir_ / "lab.db").string(), "--out",
                          (dir_ / "report").string()});
  ASSERT_TRUE(r.ok()) << r.stderr_tail;
  for (const char* f : {"results.md", "index.html", "results.tsv"})
    EXPECT_TRUE(std::filesystem::exists(dir_ / "report" / f)) << f;
  EXPECT_THAT(testing::read_text(dir_ / "report/results.md"), HasSubstr("| mmap | mmap |"));
}

}  // namespace
}  // namespace streammoe::lab
