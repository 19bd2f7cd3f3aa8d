#include "harness/sqlite_db.h"

#include <sqlite3.h>

#include <cmath>
#include <limits>

#include "engine/util/error.h"

namespace streammoe::lab {

bool is_null(const SqlValue& value) { return std::holds_alternative<std::monostate>(value); }

std::string to_text(const SqlValue& value) {
  if (auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
  if (auto* s = std::get_if<std::string>(&value)) return *s;
  return "";
}

double to_double(const SqlValue& value) {
  if (auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&value)) return *d;
  if (auto* s = std::get_if<std::string>(&value)) {
    try {
      size_t used = 0;
      double parsed = std::stod(*s, &used);
      if (used == s->size()) return parsed;
    } catch (const std::exception&) {
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

int64_t to_int(const SqlValue& value) {
  if (auto* i = std::get_if<int64_t>(&value)) return *i;
  if (auto* d = std::get_if<double>(&value)) return static_cast<int64_t>(std::llround(*d));
  if (auto* s = std::get_if<std::string>(&value)) {
    try {
      return std::stoll(*s);
    } catch (const std::exception&) {
    }
  }
  return 0;
}

const SqlValue& SqlRow::at(std::string_view name) const {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return values[i];
  fail("query result has no column {}", name);
}

bool SqlRow::has(std::string_view name) const {
  for (const auto& n : names)
    if (n == name) return true;
  return false;
}

Statement::Statement(SqliteDb& db, std::string_view sql) : db_(db), sql_(sql) {
  if (sqlite3_prepare_v2(db.handle(), sql_.c_str(), static_cast<int>(sql_.size()), &stmt_,
                         nullptr) != SQLITE_OK)
    fail("{}: cannot prepare '{}': {}", db.path().string(), sql_, db.error_message());
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, const SqlValue& value) {
  int rc = SQLITE_OK;
  if (is_null(value)) {
    rc = sqlite3_bind_null(stmt_, index);
  } else if (auto* i = std::get_if<int64_t>(&value)) {
    rc = sqlite3_bind_int64(stmt_, index, *i);
  } else if (auto* d = std::get_if<double>(&value)) {
    // SQLite stores NaN as NULL anyway; make that explicit so readers never see a bogus 0.
    rc = std::isfinite(*d) ? sqlite3_bind_double(stmt_, index, *d) : sqlite3_bind_null(stmt_, index);
  } else {
    const auto& s = std::get<std::string>(value);
    rc = sqlite3_bind_text(stmt_, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  if (rc != SQLITE_OK)
    fail("{}: cannot bind parameter {} of '{}': {}", db_.path().string(), index, sql_,
         db_.error_message());
  return *this;
}

Statement& Statement::bind_all(const std::vector<SqlValue>& values) {
  for (size_t i = 0; i < values.size(); ++i) bind(static_cast<int>(i + 1), values[i]);
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail("{}: '{}' failed: {}", db_.path().string(), sql_, db_.error_message());
}

SqlRow Statement::row() const {
  SqlRow row;
  int n = sqlite3_column_count(stmt_);
  for (int i = 0; i < n; ++i) {
    row.names.emplace_back(sqlite3_column_name(stmt_, i));
    switch (sqlite3_column_type(stmt_, i)) {
      case SQLITE_INTEGER:
        row.values.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt_, i)));
        break;
      case SQLITE_FLOAT:
        row.values.emplace_back(sqlite3_column_double(stmt_, i));
        break;
      case SQLITE_NULL:
        row.values.emplace_back(std::monostate{});
        break;
      default: {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
        row.values.emplace_back(std::string(text ? text : "", sqlite3_column_bytes(stmt_, i)));
      }
    }
  }
  return row;
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

SqliteDb::SqliteDb(const std::filesystem::path& path, Access access)
    : access_(access), path_(path) {
  int flags = SQLITE_OPEN_READONLY;
  if (access == Access::kReadWrite) {
    flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (path.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(path.parent_path(), ec);
    }
  }
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    fail("{}: cannot open database: {}", path.string(), message);
  }
  sqlite3_busy_timeout(db_, 10000);
  if (access == Access::kReadOnly) return;  // a reader changes nothing
  try {
    exec("PRAGMA foreign_keys=ON");  // this connection only; nothing on disk changes
  } catch (...) {
    sqlite3_close(db_);  // the destructor does not run for a throwing constructor
    throw;
  }
}

void SqliteDb::use_wal() {
  // WAL: readers (report, show) never block the running experiment, and a killed writer leaves
  // the last committed transaction intact. NORMAL sync is durable against process crashes.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
}

SqliteDb::~SqliteDb() { sqlite3_close(db_); }

std::string SqliteDb::error_message() const { return sqlite3_errmsg(db_); }

void SqliteDb::exec(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string error = message ? message : "unknown error";
    sqlite3_free(message);
    fail("{}: '{}' failed: {}", path_.string(), text, error);
  }
}

std::vector<SqlRow> SqliteDb::query(std::string_view sql, const std::vector<SqlValue>& params) {
  Statement stmt(*this, sql);
  stmt.bind_all(params);
  std::vector<SqlRow> rows;
  while (stmt.step()) rows.push_back(stmt.row());
  return rows;
}

int64_t SqliteDb::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }

Transaction::Transaction(SqliteDb& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace streammoe::lab
