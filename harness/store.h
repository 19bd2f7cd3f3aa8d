#pragma once
// The lab's SQLite store: opens (creating and migrating) a database whose tables come from
// store_schema, and writes rows whose columns are checked against that schema. Every multi-row
// record is written inside one transaction, so a crash leaves either all of it or none.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/sqlite_db.h"
#include "harness/store_schema.h"

namespace streammoe::lab {

// PRAGMA application_id of every database the lab makes ("SMLB"): what tells a lab database from
// another program's before anything is written to it.
inline constexpr int32_t kLabApplicationId = 0x534d4c42;

// What a database file holds, judged without writing to it.
struct DatabaseCheck {
  enum class Kind { kEmpty, kLab, kForeign };
  Kind kind = Kind::kEmpty;
  int version = 0;      // PRAGMA user_version
  std::string problem;  // why it is foreign (or why a lab database is damaged)
};
DatabaseCheck check_database(SqliteDb& db, const SchemaDef& schema);

// Column name -> value, in any order; a column not in the schema is an Error.
using Fields = std::vector<std::pair<std::string, SqlValue>>;

std::string now_iso8601();  // UTC, seconds resolution

class Store {
 public:
  enum class Access {
    // Creates a missing database, migrates an older one and checks every declared table and
    // column: a foreign, damaged or newer database is an Error before anything is written.
    kWrite,
    // For report, list, show and compare: refuses a foreign, older or newer database and
    // changes nothing on disk (no tables, no user_version, no journal mode).
    kRead,
  };
  explicit Store(const std::filesystem::path& path, const SchemaDef& schema = lab_schema(),
                 Access access = Access::kWrite);
  static Store read_only(const std::filesystem::path& path) {
    return Store(path, lab_schema(), Access::kRead);
  }

  SqliteDb& db() { return db_; }
  const SchemaDef& schema() const { return schema_; }
  int version_on_disk();

  // INSERT of the given fields; returns the new rowid. Call inside a Transaction for atomicity.
  int64_t insert(std::string_view table, const Fields& fields);
  // INSERT OR REPLACE (for rows keyed by a UNIQUE constraint, e.g. verdicts, quality).
  int64_t upsert(std::string_view table, const Fields& fields);
  void update(std::string_view table, int64_t id, const Fields& fields);

  std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue>& params = {}) {
    return db_.query(sql, params);
  }

 private:
  int64_t write(std::string_view verb, std::string_view table, const Fields& fields);
  void check_columns(const TableDef& table, const Fields& fields) const;
  void open_for_writing();
  void open_for_reading();
  void migrate();

  SqliteDb db_;
  SchemaDef schema_;  // a copy: tests pass temporaries (schema_at) of older versions
};

// Resolves an experiment given by id ("12") or name (the latest with that name).
std::optional<int64_t> find_experiment(Store& store, std::string_view id_or_name);

}  // namespace streammoe::lab
