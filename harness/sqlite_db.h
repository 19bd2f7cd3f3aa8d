#pragma once
// A thin RAII layer over SQLite: one connection, prepared statements, and transactions that roll
// back unless committed, so an exception between BEGIN and COMMIT never leaves half a record.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace streammoe::lab {

// NULL, INTEGER, REAL, TEXT: the four storage classes the lab uses.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

bool is_null(const SqlValue& value);
std::string to_text(const SqlValue& value);  // "" for NULL
double to_double(const SqlValue& value);     // NaN for NULL or non-numeric text
int64_t to_int(const SqlValue& value);       // 0 for NULL

// One result row with its column names, in SELECT order.
struct SqlRow {
  std::vector<std::string> names;
  std::vector<SqlValue> values;
  // The value of a named column; an Error naming the column when the query has no such column.
  const SqlValue& at(std::string_view name) const;
  bool has(std::string_view name) const;
};

class SqliteDb;

class Statement {
 public:
  Statement(SqliteDb& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, const SqlValue& value);  // 1-based like SQLite
  Statement& bind_all(const std::vector<SqlValue>& values);
  bool step();  // true while a row is available
  SqlRow row() const;
  void reset();

 private:
  SqliteDb& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class SqliteDb {
 public:
  enum class Access {
    kReadWrite,  // creates the file when missing; foreign keys on
    kReadOnly,   // never creates, converts or writes anything (report, list, show, compare)
  };
  // Opens a database with a busy timeout. Nothing on disk changes until the caller writes:
  // the store first checks that the file is a lab database.
  explicit SqliteDb(const std::filesystem::path& path, Access access = Access::kReadWrite);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Switches the file to WAL with NORMAL sync (persistent: only for the lab's own databases).
  void use_wal();
  void exec(std::string_view sql);
  std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue>& params = {});
  int64_t last_insert_id() const;
  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() { return db_; }
  std::string error_message() const;
  bool read_only() const { return access_ == Access::kReadOnly; }

 private:
  Access access_;
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() ran.
class Transaction {
 public:
  explicit Transaction(SqliteDb& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  SqliteDb& db_;
  bool open_ = true;
};

}  // namespace streammoe::lab
