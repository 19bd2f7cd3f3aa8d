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

// Column name -> value, in any order; a column not in the schema is an Error.
using Fields = std::vector<std::pair<std::string, SqlValue>>;

std::string now_iso8601();  // UTC, seconds resolution

class Store {
 public:
  // Opens the database and migrates it to `schema` (the lab's schema unless a test passes one).
  explicit Store(const std::filesystem::path& path, const SchemaDef& schema = lab_schema());

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
  void migrate();

  SqliteDb db_;
  const SchemaDef& schema_;
};

// Resolves an experiment given by id ("12") or name (the latest with that name).
std::optional<int64_t> find_experiment(Store& store, std::string_view id_or_name);

}  // namespace streammoe::lab
