// The store: DDL derived from the one schema, migrations, WAL, transactions that leave nothing
// half-written, and the export columns the schema declares.
#include "harness/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::vector<std::string> table_names(Store& store) {
  std::vector<std::string> names;
  for (const auto& row : store.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"))
    names.push_back(to_text(row.values[0]));
  return names;
}

std::vector<std::string> column_names(Store& store, const std::string& table) {
  std::vector<std::string> names;
  for (const auto& row : store.query("PRAGMA table_info(" + table + ")"))
    names.push_back(to_text(row.at("name")));
  return names;
}

TEST(Store, FreshDatabaseHasEverySchemaTableInWalMode) {
  TempDir dir;
  Store store(dir / "lab.db");
  EXPECT_EQ(store.version_on_disk(), lab_schema().version);
  EXPECT_THAT(table_names(store),
              ::testing::ElementsAre("environment", "experiments", "metrics", "quality", "runs",
                                     "variants", "verdicts"));
  EXPECT_EQ(to_text(store.query("PRAGMA journal_mode")[0].values[0]), "wal");
  // The columns on disk are exactly the declared ones, in order.
  for (const auto& table : lab_schema().tables) {
    std::vector<std::string> declared;
    for (const auto& c : table.columns) declared.emplace_back(c.name);
    EXPECT_EQ(column_names(store, std::string(table.name)), declared) << table.name;
  }
}

TEST(Store, DdlComesFromTheSchema) {
  std::string sql = create_table_sql(lab_schema().table("runs"));
  EXPECT_THAT(sql, HasSubstr("CREATE TABLE IF NOT EXISTS runs ("));
  EXPECT_THAT(sql, HasSubstr("stderr_tail TEXT"));
  EXPECT_THAT(sql, HasSubstr("UNIQUE(experiment_id, variant_id, model, repeat)"));
}

TEST(Store, MetricsHaveAColumnPerPhase) {
  const TableDef& metrics = lab_schema().table("metrics");
  for (auto phase : phase_names())
    EXPECT_NE(metrics.find(std::string(phase) + "_ms"), nullptr) << phase;
}

TEST(Store, MigratesAnOlderSchemaKeepingItsRows) {
  SchemaDef v1{1, {TableDef{.name = "things",
                            .columns = {{.name = "id", .sql = "INTEGER PRIMARY KEY"},
                                        {.name = "label", .sql = "TEXT"}}}}};
  SchemaDef v2 = v1;
  v2.version = 2;
  v2.tables[0].columns.push_back({.name = "weight", .sql = "REAL", .since = 2});
  v2.tables.push_back(TableDef{.name = "extras",
                               .columns = {{.name = "id", .sql = "INTEGER PRIMARY KEY"}},
                               .since = 2});
  EXPECT_EQ(migration_sql(v2, 1),
            (std::vector<std::string>{"ALTER TABLE things ADD COLUMN weight REAL",
                                      "CREATE TABLE IF NOT EXISTS extras (\n  id INTEGER PRIMARY KEY\n)"}));
  TempDir dir;
  {
    Store old(dir / "m.db", v1);
    old.insert("things", {{"label", std::string("kept")}});
  }
  Store migrated(dir / "m.db", v2);
  EXPECT_EQ(migrated.version_on_disk(), 2);
  EXPECT_THAT(column_names(migrated, "things"), ::testing::ElementsAre("id", "label", "weight"));
  EXPECT_EQ(to_text(migrated.query("SELECT label FROM things")[0].values[0]), "kept");
  migrated.insert("extras", {});  // exists now
  // An older lab refuses a newer database rather than corrupting it.
  try {
    Store refused(dir / "m.db", v1);
    FAIL() << "opened a newer database";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("schema version 2 is newer than this lab's (1)"));
  }
}

TEST(Store, MigratesAVersionOneLabDatabase) {
  TempDir dir;
  SchemaDef v1 = schema_at(lab_schema(), 1);
  EXPECT_EQ(v1.table("runs").find("load_1m"), nullptr);
  {
    Store old(dir / "v1.db", v1);
    EXPECT_EQ(old.version_on_disk(), 1);
    old.insert("experiments", {{"name", std::string("before")}, {"spec_hash", std::string("h")},
                               {"status", std::string("complete")}});
  }
  Store store(dir / "v1.db");
  EXPECT_EQ(store.version_on_disk(), lab_schema().version);
  EXPECT_THAT(column_names(store, "runs"), ::testing::Contains("load_1m"));
  EXPECT_THAT(column_names(store, "environment"), ::testing::Contains("load_average"));
  EXPECT_EQ(to_text(store.query("SELECT name FROM experiments")[0].values[0]), "before");
}

TEST(Store, MigratesAVersionTwoLabDatabaseToTheMachineProfileColumns) {
  TempDir dir;
  SchemaDef v2 = schema_at(lab_schema(), 2);
  EXPECT_EQ(v2.table("environment").find("disk_rand_gbps"), nullptr);
  {
    Store old(dir / "v2.db", v2);
    int64_t e = old.insert("experiments", {{"name", std::string("before")},
                                           {"spec_hash", std::string("h")},
                                           {"status", std::string("complete")}});
    old.insert("environment", {{"experiment_id", e}, {"load_average", std::string("0.5 0.4 0.3")}});
  }
  Store store(dir / "v2.db");
  EXPECT_GE(store.version_on_disk(), 3);
  for (const char* column : {"disk_rand_gbps", "disk_read_block_bytes", "disk_queue_depth",
                             "ram_read_gbps", "ram_read_gbps_1t", "profile_measured_at"})
    EXPECT_THAT(column_names(store, "environment"), ::testing::Contains(column));
  auto row = store.query("SELECT load_average, disk_rand_gbps FROM environment");
  EXPECT_EQ(to_text(row[0].at("load_average")), "0.5 0.4 0.3");
  EXPECT_TRUE(is_null(row[0].at("disk_rand_gbps")));
}

TEST(Store, MigratesFromEveryEarlierVersionToTheDeclaredSchema) {
  for (int version = 1; version < lab_schema().version; ++version) {
    SCOPED_TRACE(version);
    TempDir dir;
    {
      Store old(dir / "old.db", schema_at(lab_schema(), version));
      old.insert("experiments", {{"name", std::string("kept")}, {"spec_hash", std::string("h")},
                                 {"status", std::string("complete")}});
    }
    Store store(dir / "old.db");
    EXPECT_EQ(store.version_on_disk(), lab_schema().version);
    for (const auto& table : lab_schema().tables) {
      std::vector<std::string> declared;
      for (const auto& c : table.columns) declared.emplace_back(c.name);
      EXPECT_EQ(column_names(store, std::string(table.name)), declared) << table.name;
    }
    EXPECT_EQ(to_text(store.query("SELECT name FROM experiments")[0].values[0]), "kept");
  }
}

TEST(Store, TransactionLeavesNothingHalfWritten) {
  TempDir dir;
  Store store(dir / "t.db");
  int64_t experiment = store.insert("experiments", {{"name", std::string("e")},
                                                    {"spec_hash", std::string("h")},
                                                    {"status", std::string("running")}});
  int64_t variant = store.insert("variants", {{"experiment_id", experiment},
                                              {"ordinal", int64_t{0}},
                                              {"name", std::string("v")}});
  try {
    Transaction transaction(store.db());
    int64_t run = store.insert("runs", {{"experiment_id", experiment},
                                        {"variant_id", variant},
                                        {"model", std::string("m")},
                                        {"repeat", int64_t{0}},
                                        {"status", std::string("ok")}});
    // The second half of the record fails: a column the schema does not have.
    store.insert("metrics", {{"run_id", run}, {"tokens_per_fortnight", 1.0}});
    transaction.commit();
    FAIL() << "insert of an unknown column succeeded";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("table metrics has no column tokens_per_fortnight"));
  }
  EXPECT_EQ(to_int(store.query("SELECT COUNT(*) FROM runs")[0].values[0]), 0);
  EXPECT_EQ(to_int(store.query("SELECT COUNT(*) FROM metrics")[0].values[0]), 0);
}

TEST(Store, DuplicateRunsAreRejected) {
  TempDir dir;
  Store store(dir / "d.db");
  int64_t e = store.insert("experiments", {{"name", std::string("e")},
                                           {"spec_hash", std::string("h")},
                                           {"status", std::string("running")}});
  int64_t v = store.insert("variants", {{"experiment_id", e}, {"ordinal", int64_t{0}},
                                        {"name", std::string("v")}});
  Fields run = {{"experiment_id", e}, {"variant_id", v}, {"model", std::string("m")},
                {"repeat", int64_t{0}}, {"status", std::string("ok")}};
  store.insert("runs", run);
  EXPECT_THROW(store.insert("runs", run), Error);
}

TEST(Store, FindsExperimentsByIdOrLatestName) {
  TempDir dir;
  Store store(dir / "f.db");
  auto add = [&](const char* name) {
    return store.insert("experiments", {{"name", std::string(name)},
                                        {"spec_hash", std::string("h")},
                                        {"status", std::string("complete")}});
  };
  int64_t a = add("alpha"), b = add("beta"), a2 = add("alpha");
  EXPECT_EQ(find_experiment(store, std::to_string(b)), b);
  EXPECT_EQ(find_experiment(store, "alpha"), a2);
  EXPECT_NE(find_experiment(store, "alpha"), a);
  EXPECT_FALSE(find_experiment(store, "gamma").has_value());
  // A number beyond int64 is a name, not a bare "stoll" error (found by the hostile corpus).
  EXPECT_FALSE(find_experiment(store, "99999999999999999999").has_value());
  EXPECT_FALSE(find_experiment(store, "").has_value());
}

TEST(Store, TsvColumnsAreTheReferenceSystems) {
  std::vector<std::string> names;
  for (const auto& c : tsv_columns(lab_schema())) names.emplace_back(c.column->tsv_name);
  EXPECT_THAT(names, ::testing::ElementsAre("commit", "model", "params_B", "active_B", "tok_sec",
                                            "ttft_ms", "mem_gb", "status", "description"));
  auto results = results_columns(lab_schema());
  ASSERT_FALSE(results.empty());
  EXPECT_EQ(results.front().key(), "variants.name");
  EXPECT_EQ(results.back().key(), "verdicts.reason");
}

}  // namespace
}  // namespace streammoe::lab
