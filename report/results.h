#pragma once
// What the exporters show, loaded from the store: per experiment its header (hypothesis,
// environment) and one row per verdict with every column of the joined tables, keyed
// "table.column" (the names of store_schema), plus the per-phase medians for the charts.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness/store.h"

namespace streammoe::lab {

struct VariantRow {
  std::map<std::string, SqlValue> values;           // "verdicts.tok_s_median" -> 41.2, ...
  std::map<std::string, std::string> options;       // the variant's full switch set
  std::map<std::string, std::string> build_options;  // compile-time options (empty: default)
  std::map<std::string, double> phase_ms;           // median ms/token per phase (ok runs)
  const SqlValue& get(const std::string& key) const;  // NULL when absent
  std::string text(const std::string& key) const;
  double number(const std::string& key) const;  // NaN when NULL
};

struct ExperimentResults {
  int64_t id = 0;
  std::string name, hypothesis, track, status, started_at;
  std::string warnings;  // about the machine during the runs ("noisy machine: ...")
  int64_t runs_planned = 0, runs_recorded = 0, runs_failed = 0;
  std::map<std::string, SqlValue> environment;  // the first session's environment row
  int sessions = 0;
  std::vector<VariantRow> rows;  // in variant order, then model
};

// Rows of a query with their column names (the flat export).
struct FlatTable {
  std::vector<std::string> columns;
  std::vector<std::vector<SqlValue>> rows;
};

struct LabResults {
  std::vector<ExperimentResults> experiments;  // oldest first
  FlatTable runs;  // runs_flat: one row per run with its environment, in execution order
};

// Loads the given experiments (all when empty).
LabResults load_results(Store& store, const std::vector<int64_t>& experiment_ids = {});

// A results table ready to print: schema columns in rank order with the switch columns after
// the variant name; columns marked "if varies" appear only when the rows differ.
struct ResultsTable {
  std::vector<std::string> headers;
  std::vector<bool> numeric;  // right-aligned columns
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> verdicts;  // per row, for styling
};
ResultsTable results_table(const ExperimentResults& experiment);

// The value of an export column formatted with its precision, "v [lo, hi]" when it has a CI.
std::string format_cell(const VariantRow& row, const std::string& table, const ColumnDef& column);

// One line describing the machine and conditions ("commit abc123 (dirty), AMD EPYC, ...").
std::string environment_summary(const ExperimentResults& experiment);

}  // namespace streammoe::lab
