#include "report/results.h"

#include <cmath>
#include <functional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "harness/stats.h"

namespace streammoe::lab {

namespace {

const SqlValue kNull{};

// SELECT list of every column of the given tables, aliased "table.column".
std::string select_all(const SchemaDef& schema, const std::vector<std::string>& tables) {
  std::string list;
  for (const auto& t : tables)
    for (const auto& c : schema.table(t).columns)
      list += fmt::format("{}{}.{} AS \"{}.{}\"", list.empty() ? "" : ", ", t, c.name, t, c.name);
  return list;
}

std::string format_number(double v, int precision) {
  if (!std::isfinite(v)) return "";
  return fmt::format("{:.{}f}", v, precision);
}

}  // namespace

const SqlValue& VariantRow::get(const std::string& key) const {
  auto it = values.find(key);
  return it == values.end() ? kNull : it->second;
}

std::string VariantRow::text(const std::string& key) const { return to_text(get(key)); }

double VariantRow::number(const std::string& key) const { return to_double(get(key)); }

std::string format_cell(const VariantRow& row, const std::string& table, const ColumnDef& column) {
  std::string key = table + "." + std::string(column.name);
  const SqlValue& v = row.get(key);
  if (is_null(v)) return "";
  if (std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  std::string text = format_number(to_double(v), column.precision);
  if (!column.ci_low.empty()) {
    double low = row.number(table + "." + std::string(column.ci_low));
    double high = row.number(table + "." + std::string(column.ci_high));
    if (std::isfinite(low) && std::isfinite(high))
      text += fmt::format(" [{}, {}]", format_number(low, column.precision),
                          format_number(high, column.precision));
  }
  return text;
}

LabResults load_results(Store& store, const std::vector<int64_t>& experiment_ids) {
  const SchemaDef& schema = store.schema();
  LabResults results;
  std::vector<int64_t> ids = experiment_ids;
  if (ids.empty())
    for (const auto& row : store.query("SELECT id FROM experiments ORDER BY id"))
      ids.push_back(to_int(row.values[0]));

  const std::string rows_sql = fmt::format(
      "SELECT {} FROM verdicts JOIN variants ON variants.id = verdicts.variant_id "
      "LEFT JOIN quality ON quality.experiment_id = verdicts.experiment_id AND "
      "quality.variant_id = verdicts.variant_id AND quality.model = verdicts.model "
      "LEFT JOIN environment ON environment.id = (SELECT MIN(id) FROM environment e "
      "WHERE e.experiment_id = verdicts.experiment_id) "
      "WHERE verdicts.experiment_id = ? ORDER BY variants.ordinal, verdicts.model",
      select_all(schema, {"verdicts", "variants", "quality", "environment"}));
  std::string phase_list;
  for (auto p : phase_names()) phase_list += fmt::format(", m.{}_ms", p);
  const std::string phases_sql = fmt::format(
      "SELECT r.variant_id, r.model{} FROM runs r JOIN metrics m ON m.run_id = r.id "
      "WHERE r.experiment_id = ? AND r.status = 'ok'",
      phase_list);

  for (int64_t id : ids) {
    auto head = store.query(
        "SELECT id, name, hypothesis, track, status, started_at, runs_planned, warnings FROM "
        "experiments WHERE id = ?",
        {id});
    if (head.empty()) continue;
    ExperimentResults e;
    e.id = id;
    e.name = to_text(head[0].at("name"));
    e.hypothesis = to_text(head[0].at("hypothesis"));
    e.track = to_text(head[0].at("track"));
    e.status = to_text(head[0].at("status"));
    e.started_at = to_text(head[0].at("started_at"));
    e.runs_planned = to_int(head[0].at("runs_planned"));
    e.warnings = to_text(head[0].at("warnings"));
    auto counts = store.query(
        "SELECT COUNT(*) AS n, SUM(status <> 'ok') AS failed FROM runs WHERE experiment_id = ?",
        {id});
    e.runs_recorded = to_int(counts[0].at("n"));
    e.runs_failed = to_int(counts[0].at("failed"));
    auto env = store.query("SELECT * FROM environment WHERE experiment_id = ? ORDER BY id", {id});
    e.sessions = static_cast<int>(env.size());
    if (!env.empty())
      for (size_t i = 0; i < env[0].names.size(); ++i) e.environment[env[0].names[i]] = env[0].values[i];

    std::map<std::pair<int64_t, std::string>, std::map<std::string, std::vector<double>>> phases;
    for (const auto& row : store.query(phases_sql, {id})) {
      auto& slot = phases[{to_int(row.at("variant_id")), to_text(row.at("model"))}];
      for (auto p : phase_names()) {
        const SqlValue& v = row.at(std::string(p) + "_ms");
        if (!is_null(v)) slot[std::string(p)].push_back(to_double(v));
      }
    }
    for (const auto& row : store.query(rows_sql, {id})) {
      VariantRow v;
      for (size_t i = 0; i < row.names.size(); ++i) v.values[row.names[i]] = row.values[i];
      auto options = nlohmann::json::parse(v.text("variants.options_json"), nullptr, false);
      if (options.is_object())
        for (auto it = options.begin(); it != options.end(); ++it)
          v.options[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
      auto build = nlohmann::json::parse(v.text("variants.build_options_json"), nullptr, false);
      if (build.is_object())
        for (auto it = build.begin(); it != build.end(); ++it)
          v.build_options[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
      auto key = std::make_pair(to_int(v.get("verdicts.variant_id")), v.text("verdicts.model"));
      for (auto& [phase, samples] : phases[key]) v.phase_ms[phase] = median(samples);
      e.rows.push_back(std::move(v));
    }
    results.experiments.push_back(std::move(e));
    for (const auto& row : store.query(
             "SELECT * FROM runs_flat WHERE experiment_id = ? ORDER BY ordinal, repeat", {id})) {
      if (results.runs.columns.empty()) results.runs.columns = row.names;
      results.runs.rows.push_back(row.values);
    }
  }
  return results;
}

ResultsTable results_table(const ExperimentResults& experiment) {
  ResultsTable table;
  const auto& rows = experiment.rows;
  auto varies = [&](auto&& cell_of) {
    std::set<std::string> seen;
    for (const auto& r : rows) seen.insert(cell_of(r));
    return seen.size() > 1;
  };
  // Switch columns: the engine options whose values differ between variants.
  std::set<std::string> option_names;
  for (const auto& r : rows)
    for (const auto& [name, value] : r.options) option_names.insert(name);
  std::vector<std::string> switch_columns;
  for (const auto& name : option_names)
    if (varies([&](const VariantRow& r) {
          auto it = r.options.find(name);
          return it == r.options.end() ? std::string() : it->second;
        }))
      switch_columns.push_back(name);

  // Compile-time options: a column per option any variant sets ("default" where it does not).
  std::set<std::string> build_names;
  for (const auto& r : rows)
    for (const auto& [name, value] : r.build_options) build_names.insert(name);
  auto build_value = [](const VariantRow& r, const std::string& name) {
    auto it = r.build_options.find(name);
    return it == r.build_options.end() ? std::string("default") : it->second;
  };
  std::vector<std::string> build_columns;
  for (const auto& name : build_names)
    if (varies([&](const VariantRow& r) { return build_value(r, name); }))
      build_columns.push_back(name);

  struct Column {
    std::string header;
    bool numeric;
    std::function<std::string(const VariantRow&)> cell;
  };
  std::vector<Column> columns;
  for (const auto& export_column : results_columns(lab_schema())) {
    const ColumnDef& def = *export_column.column;
    std::string table_name = export_column.table;
    auto cell = [table_name, &def](const VariantRow& r) { return format_cell(r, table_name, def); };
    bool keep = def.shown == Shown::kAlways || (def.shown == Shown::kIfVaries && varies(cell));
    bool numeric = def.sql.find("REAL") != std::string_view::npos ||
                   def.sql.find("INTEGER") != std::string_view::npos;
    if (keep) columns.push_back({std::string(def.label), numeric, cell});
    if (export_column.key() == "variants.name") {
      for (const auto& name : switch_columns)
        columns.push_back({name, false, [name](const VariantRow& r) {
                             auto it = r.options.find(name);
                             return it == r.options.end() ? std::string() : it->second;
                           }});
      for (const auto& name : build_columns)
        columns.push_back({name, false, [name, build_value](const VariantRow& r) {
                             return build_value(r, name);
                           }});
    }
  }
  for (const auto& c : columns) {
    table.headers.push_back(c.header);
    table.numeric.push_back(c.numeric);
  }
  for (const auto& r : rows) {
    std::vector<std::string> cells;
    for (const auto& c : columns) cells.push_back(c.cell(r));
    table.cells.push_back(std::move(cells));
    table.verdicts.push_back(r.text("verdicts.verdict"));
  }
  return table;
}

std::string environment_summary(const ExperimentResults& e) {
  auto get = [&](const char* key) {
    auto it = e.environment.find(key);
    return it == e.environment.end() ? std::string() : to_text(it->second);
  };
  if (e.environment.empty()) return "no environment recorded";
  std::string budget = "no memory budget";
  if (!get("budget_bytes").empty())
    budget = fmt::format("memory budget {} MiB {}", to_int(e.environment.at("budget_bytes")) >> 20,
                         get("budget_enforced") == "1" ? "enforced (" + get("budget_mechanism") + ")"
                                                       : "NOT enforced");
  return fmt::format(
      "commit {}{}; {} ({} cores; {}); {}; {} MiB RAM; disk {}; load average {}; {} cache{}; {}",
      get("git_commit"), get("git_dirty") == "1" ? " (dirty)" : "", get("cpu_model"),
      get("cpu_cores"), get("cpu_flags"), get("kernel"),
      format_number(to_double(e.environment.at("memory_total_mb")), 0),
      get("disk").empty() ? "unknown" : get("disk"),
      get("load_average").empty() ? "unknown" : get("load_average"), get("cache_state"),
      get("drop_caches") == "1" ? " + drop_caches" : "", budget);
}

}  // namespace streammoe::lab
