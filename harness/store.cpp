#include "harness/store.h"

#include <charconv>
#include <chrono>
#include <ctime>

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

Store::Store(const std::filesystem::path& path, const SchemaDef& schema)
    : db_(path), schema_(schema) {
  migrate();
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
  db_.exec(fmt::format("PRAGMA user_version = {}", schema_.version));
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
