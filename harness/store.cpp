#include "harness/store.h"

#include <charconv>
#include <chrono>
#include <ctime>
#include <set>

#include <fmt/format.h>

#include "engine/util/error.h"

namespace streammoe::lab {

std::string now_iso8601() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The first declared table or column of `expected` the database lacks ("" when none).
std::string missing_part(SqliteDb& db, const SchemaDef& expected) {
  for (const auto& table : expected.tables) {
    std::set<std::string> columns;
    for (const auto& row : db.query(fmt::format("PRAGMA table_info(\"{}\")", table.name)))
      columns.insert(to_text(row.at("name")));
    if (columns.empty()) return fmt::format("it has no table {}", table.name);
    for (const auto& column : table.columns)
      if (!columns.count(std::string(column.name)))
        return fmt::format("its table {} has no column {}", table.name, column.name);
  }
  return "";
}

}  // namespace

DatabaseCheck check_database(SqliteDb& db, const SchemaDef& schema) {
  DatabaseCheck check;
  std::vector<std::string> tables;
  for (const auto& row : db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name "
                                  "NOT LIKE 'sqlite_%' ORDER BY name"))
    tables.push_back(to_text(row.values[0]));
  int64_t application_id = to_int(db.query("PRAGMA application_id")[0].values[0]);
  check.version = static_cast<int>(to_int(db.query("PRAGMA user_version")[0].values[0]));
  if (tables.empty() && check.version == 0 && application_id == 0) return check;  // kEmpty
  check.kind = DatabaseCheck::Kind::kForeign;
  if (application_id != 0 && application_id != kLabApplicationId) {
    check.problem = fmt::format("its application_id is {:#x}, another program's", application_id);
    return check;
  }
  if (check.version <= 0) {
    check.problem = fmt::format("it has tables {} and no schema version", joined(tables));
    return check;
  }
  if (check.version > schema.version) {
    // Newer than this lab: judged by its stamp alone, its tables are not known here.
    if (application_id == kLabApplicationId) check.kind = DatabaseCheck::Kind::kLab;
    else check.problem = fmt::format("it has tables {} and user_version {}", joined(tables), check.version);
    return check;
  }
  // Older lab databases carry no application_id: their tables and columns must be the lab's.
  std::string missing = missing_part(db, schema_at(schema, check.version));
  if (!missing.empty()) {
    check.problem = application_id == kLabApplicationId
                        ? fmt::format("a damaged lab database: {}", missing)
                        : fmt::format("{} (it has tables {})", missing, joined(tables));
    return check;
  }
  check.kind = DatabaseCheck::Kind::kLab;
  return check;
}

Store::Store(const std::filesystem::path& path, const SchemaDef& schema, Access access)
    : db_(path, access == Access::kRead ? SqliteDb::Access::kReadOnly : SqliteDb::Access::kReadWrite),
      schema_(schema) {
  if (access == Access::kRead) {
    open_for_reading();
  } else {
    open_for_writing();
  }
}

void Store::open_for_reading() {
  DatabaseCheck check = check_database(db_, schema_);
  const std::string path = db_.path().string();
  if (check.kind == DatabaseCheck::Kind::kEmpty)
    fail("{}: not a streammoe-lab database (it is empty); run an experiment into it first", path);
  if (check.kind == DatabaseCheck::Kind::kForeign)
    fail("{}: not a streammoe-lab database: {}; nothing was changed", path, check.problem);
  if (check.version > schema_.version)
    fail("{}: database schema version {} is newer than this lab's ({}); use a newer streammoe-lab",
         path, check.version, schema_.version);
  if (check.version < schema_.version)
    fail("{}: database schema version {} is older than this lab's ({}); `streammoe-lab migrate "
         "--db {}` upgrades it (so does any `run` into it)",
         path, check.version, schema_.version, path);
}

void Store::open_for_writing() {
  DatabaseCheck check = check_database(db_, schema_);
  const std::string path = db_.path().string();
  if (check.kind == DatabaseCheck::Kind::kForeign)
    fail("{}: not a streammoe-lab database: {}; nothing was changed (give another --db)", path,
         check.problem);
  if (check.version > schema_.version)
    fail("{}: database schema version {} is newer than this lab's ({}); use a newer streammoe-lab",
         path, check.version, schema_.version);
  db_.use_wal();
  migrate();
  // What the migration made must be the whole schema: found now, not at the first insert after
  // an hour of runs.
  std::string missing = missing_part(db_, schema_);
  if (!missing.empty())
    fail("{}: a damaged lab database: {} (schema version {})", path, missing, schema_.version);
}

int Store::version_on_disk() {
  auto rows = db_.query("PRAGMA user_version");
  return rows.empty() ? 0 : static_cast<int>(to_int(rows[0].values[0]));
}

void Store::migrate() {
  Transaction transaction(db_);
  int on_disk = version_on_disk();
  if (on_disk > schema_.version)
    fail("{}: database schema version {} is newer than this lab's ({}); use a newer streammoe-lab",
         db_.path().string(), on_disk, schema_.version);
  if (on_disk == schema_.version) return;  // the transaction rolls back: nothing was changed
  for (const auto& statement : migration_sql(schema_, on_disk)) db_.exec(statement);
  // The lab's views follow its tables: dropped and made again from the current declarations.
  for (const auto& [name, sql] : view_sql(schema_)) {
    db_.exec(fmt::format("DROP VIEW IF EXISTS {}", name));
    db_.exec(sql);
  }
  db_.exec(fmt::format("PRAGMA user_version = {}", schema_.version));
  db_.exec(fmt::format("PRAGMA application_id = {}", kLabApplicationId));
  transaction.commit();
}

void Store::check_columns(const TableDef& table, const Fields& fields) const {
  for (const auto& [name, value] : fields)
    if (!table.find(name))
      fail("{}: table {} has no column {} (schema version {})", db_.path().string(), table.name,
           name, schema_.version);
}

int64_t Store::write(std::string_view verb, std::string_view table_name, const Fields& fields) {
  const TableDef& table = schema_.table(table_name);
  check_columns(table, fields);
  std::string columns, placeholders;
  std::vector<SqlValue> values;
  for (const auto& [name, value] : fields) {
    columns += (columns.empty() ? "" : ", ") + name;
    placeholders += placeholders.empty() ? "?" : ", ?";
    values.push_back(value);
  }
  Statement statement(db_, fields.empty() ? fmt::format("{} INTO {} DEFAULT VALUES", verb, table.name)
                                          : fmt::format("{} INTO {} ({}) VALUES ({})", verb,
                                                        table.name, columns, placeholders));
  statement.bind_all(values);
  statement.step();
  return db_.last_insert_id();
}

int64_t Store::insert(std::string_view table, const Fields& fields) {
  return write("INSERT", table, fields);
}

int64_t Store::upsert(std::string_view table, const Fields& fields) {
  return write("INSERT OR REPLACE", table, fields);
}

void Store::update(std::string_view table_name, int64_t id, const Fields& fields) {
  const TableDef& table = schema_.table(table_name);
  check_columns(table, fields);
  std::string assignments;
  std::vector<SqlValue> values;
  for (const auto& [name, value] : fields) {
    assignments += (assignments.empty() ? "" : ", ") + name + " = ?";
    values.push_back(value);
  }
  values.emplace_back(id);
  Statement statement(db_, fmt::format("UPDATE {} SET {} WHERE id = ?", table.name, assignments));
  statement.bind_all(values);
  statement.step();
}

std::optional<int64_t> find_experiment(Store& store, std::string_view id_or_name) {
  std::string key(id_or_name);
  // An id is a decimal that fits int64; anything else (even 99999999999999999999) is a name.
  int64_t id = 0;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
  if (!key.empty() && ec == std::errc() && end == key.data() + key.size() && key[0] != '-') {
    auto rows = store.query("SELECT id FROM experiments WHERE id = ?", {id});
    if (!rows.empty()) return to_int(rows[0].values[0]);
  }
  auto rows = store.query("SELECT id FROM experiments WHERE name = ? ORDER BY id DESC LIMIT 1",
                          {key});
  if (rows.empty()) return std::nullopt;
  return to_int(rows[0].values[0]);
}

}  // namespace streammoe::lab
