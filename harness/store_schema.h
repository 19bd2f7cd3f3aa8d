#pragma once
// The lab's database schema, declared once (llama-bench style). The CREATE TABLE statements, the
// migrations, the generic INSERT, the results table of the markdown/HTML reports and the TSV
// export are all derived from these declarations; nothing else lists columns.
#include <string>
#include <string_view>
#include <vector>

namespace streammoe::lab {

// When a column appears in the results table (results.md, index.html, `show`).
enum class Shown {
  kNever,
  kAlways,    // e.g. the variant name, tok/s, the verdict
  kIfVaries,  // only when rows differ (llama-bench: constant columns say nothing)
};

struct ColumnDef {
  std::string_view name = {};
  std::string_view sql = {};  // type and constraints, e.g. "INTEGER NOT NULL REFERENCES runs(id)"
  int since = 1;         // schema version that added the column (drives ALTER TABLE migrations)
  // Results table: position (0 = not in the table), visibility, header, decimals, and the
  // columns that hold this value's confidence interval (shown as "v [lo, hi]").
  int results_rank = 0;
  Shown shown = Shown::kNever;
  std::string_view label = {};
  int precision = 2;
  std::string_view ci_low = {};
  std::string_view ci_high = {};
  // results.tsv: position (0 = not exported) and the reference system's column name.
  int tsv_rank = 0;
  std::string_view tsv_name = {};
};

struct TableDef {
  std::string_view name = {};
  std::vector<ColumnDef> columns = {};
  std::vector<std::string_view> constraints = {};  // table constraints, e.g. UNIQUE(...)
  int since = 1;
  const ColumnDef* find(std::string_view column) const;
};

struct SchemaDef {
  int version = 0;
  std::vector<TableDef> tables = {};
  const TableDef& table(std::string_view name) const;  // Error for an unknown table
  bool has_table(std::string_view name) const;
};

// SQL views over the lab's tables, derived from the declarations (so they follow every column
// added later), recreated by every migration:
//   runs_flat      one row per run with its experiment, variant, metrics and environment, like
//                  llama-bench's SQL output (the flat export, results/report/runs.tsv);
//   verdicts_flat  one row per verdict with its experiment, variant and quality.
// Empty for a schema without the lab's tables (tests' own schemas).
std::vector<std::pair<std::string, std::string>> view_sql(const SchemaDef& schema);

// The schema this build of the lab writes.
const SchemaDef& lab_schema();

// The per-token phases of the engine's metrics JSON ("phase_ms_per_token"), in chart order.
const std::vector<std::string_view>& phase_names();

// The schema as it was at an earlier version (tables and columns with since <= version), for
// migration tests.
SchemaDef schema_at(const SchemaDef& schema, int version);

std::string create_table_sql(const TableDef& table);
// Statements that bring a database at `from_version` to schema.version: CREATE TABLE for tables
// added later, ALTER TABLE ADD COLUMN for columns added later. from_version 0 = empty database.
std::vector<std::string> migration_sql(const SchemaDef& schema, int from_version);

// A results-table or TSV column, qualified by its table ("verdicts.tok_s_median").
struct ExportColumn {
  std::string table;
  const ColumnDef* column;
  std::string key() const { return table + "." + std::string(column->name); }
};
std::vector<ExportColumn> results_columns(const SchemaDef& schema);  // by results_rank
std::vector<ExportColumn> tsv_columns(const SchemaDef& schema);      // by tsv_rank

}  // namespace streammoe::lab
