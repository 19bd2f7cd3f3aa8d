#include "harness/store_schema.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/util/error.h"

namespace streammoe::lab {

namespace {

SchemaDef build_schema() {
  SchemaDef schema;
  // Version 2 added the machine's load average (environment) and each run's (runs): a noisy
  // neighbour is the first suspect when run-to-run noise is large.
  // Version 3 added the machine profile (environment: the disk's random-read rate at the expert
  // size and depth K, the RAM read rate), measured once per session.
  schema.version = 3;
  // Version 4 added which process is running an experiment (experiments.runner), for the
  // message a second process gets.
  schema.version = 4;
  // Version 5 added the statistics a reviewer asks for: which metric a verdict judged, whether
  // its runs were paired, its warnings (outliers, a noisy machine), and confidence intervals on
  // the quality measures (KL divergence, top-1 agreement, perplexity ratio, JSON validity).
  schema.version = 5;
  // Version 6 added cold that is cold and the roofline: bytes each run read from the model's
  // disk and the page-cache residency of the expert files before it (runs), the engine's own
  // count of expert bytes from the disk, cache hit rate, achieved expert GB/s and the share of
  // the machine profile's roofline (metrics), and their medians per variant (verdicts).
  schema.version = 6;
  // Version 7 added reruns: the experiment a `run --rerun` repeats.
  schema.version = 7;
  // Version 8 added the views runs_flat and verdicts_flat (view_sql).
  schema.version = 8;
  // Version 9 added which folder the quality suite evaluated (quality_model may differ from the
  // speed model).
  schema.version = 9;
  // Version 10 added the predictor's precision (predicted experts the next layer routed to, of
  // those predicted) and recall (routed experts that were predicted) to metrics, and their
  // medians per variant to verdicts.
  schema.version = 10;

  schema.tables.push_back(TableDef{
      .name = "experiments",
      .columns =
          {
              {.name = "id", .sql = "INTEGER PRIMARY KEY"},
              {.name = "name", .sql = "TEXT NOT NULL"},
              {.name = "hypothesis", .sql = "TEXT"},
              {.name = "track", .sql = "TEXT"},
              {.name = "spec_path", .sql = "TEXT"},
              {.name = "spec_yaml", .sql = "TEXT"},  // the YAML exactly as run
              {.name = "spec_hash", .sql = "TEXT NOT NULL"},
              {.name = "plan_json", .sql = "TEXT"},  // models, workload, repeats, keep rule
              {.name = "runs_planned", .sql = "INTEGER"},
              {.name = "status", .sql = "TEXT NOT NULL"},  // running | complete
              {.name = "started_at", .sql = "TEXT"},
              {.name = "finished_at", .sql = "TEXT"},
              // "pid 1234 on host since 2024-...": the process holding the experiment's lock.
              {.name = "runner", .sql = "TEXT", .since = 4},
              // What the lab noticed about the machine during the runs ("noisy machine: ...").
              {.name = "warnings", .sql = "TEXT", .since = 5},
              {.name = "rerun_of", .sql = "INTEGER REFERENCES experiments(id)", .since = 7},
          },
  });

  // One row per session (the first run and each --resume), so a resumed experiment shows every
  // machine state it was measured under.
  schema.tables.push_back(TableDef{
      .name = "environment",
      .columns =
          {
              {.name = "id", .sql = "INTEGER PRIMARY KEY"},
              {.name = "experiment_id", .sql = "INTEGER NOT NULL REFERENCES experiments(id)"},
              {.name = "captured_at", .sql = "TEXT"},
              {.name = "git_commit",
               .sql = "TEXT",
               .tsv_rank = 1,
               .tsv_name = "commit"},
              {.name = "git_dirty", .sql = "INTEGER"},
              {.name = "compiler", .sql = "TEXT"},
              {.name = "build_type", .sql = "TEXT"},
              {.name = "build_flags", .sql = "TEXT"},
              {.name = "engine_path", .sql = "TEXT"},
              {.name = "cpu_model", .sql = "TEXT"},
              {.name = "cpu_flags", .sql = "TEXT"},
              {.name = "cpu_cores", .sql = "INTEGER"},
              {.name = "kernel", .sql = "TEXT"},
              {.name = "hostname", .sql = "TEXT"},
              {.name = "disk", .sql = "TEXT"},  // device, model and rotational flag of the model files
              {.name = "memory_total_mb", .sql = "REAL"},
              {.name = "cache_state", .sql = "TEXT"},  // cold | warm
              {.name = "drop_caches", .sql = "INTEGER"},
              {.name = "budget_bytes", .sql = "INTEGER"},
              {.name = "budget_enforced", .sql = "INTEGER"},
              {.name = "budget_mechanism", .sql = "TEXT"},  // cgroup-v2 | cgroup-v1 | none
              {.name = "budget_note", .sql = "TEXT"},
              {.name = "load_average", .sql = "TEXT", .since = 2},  // /proc/loadavg 1, 5, 15 min
              // The machine profile (machine_profile.h): O_DIRECT random reads of one expert
              // record with K in flight, and the RAM read rate; NULL when not measured.
              {.name = "disk_rand_gbps", .sql = "REAL", .since = 3},
              {.name = "disk_read_block_bytes", .sql = "INTEGER", .since = 3},
              {.name = "disk_queue_depth", .sql = "INTEGER", .since = 3},
              {.name = "ram_read_gbps", .sql = "REAL", .since = 3},     // all cores
              {.name = "ram_read_gbps_1t", .sql = "REAL", .since = 3},  // one thread
              {.name = "profile_device", .sql = "TEXT", .since = 3},
              {.name = "profile_probe", .sql = "TEXT", .since = 3},
              {.name = "profile_measured_at", .sql = "TEXT", .since = 3},
              {.name = "profile_reused", .sql = "INTEGER", .since = 3},  // from the session cache
              {.name = "profile_note", .sql = "TEXT", .since = 3},
          },
  });

  schema.tables.push_back(TableDef{
      .name = "variants",
      .columns =
          {
              {.name = "id", .sql = "INTEGER PRIMARY KEY"},
              {.name = "experiment_id", .sql = "INTEGER NOT NULL REFERENCES experiments(id)"},
              {.name = "ordinal", .sql = "INTEGER NOT NULL"},
              {.name = "name",
               .sql = "TEXT NOT NULL",
               .results_rank = 1,
               .shown = Shown::kAlways,
               .label = "variant"},
              {.name = "description", .sql = "TEXT"},
              {.name = "origin", .sql = "TEXT"},  // inline | bundle | matrix
              {.name = "bundle", .sql = "TEXT"},
              {.name = "is_baseline", .sql = "INTEGER NOT NULL DEFAULT 0"},
              {.name = "switches_json", .sql = "TEXT"},        // what the variant sets
              {.name = "options_json", .sql = "TEXT"},         // full: engine defaults + switches
              {.name = "build_options_json", .sql = "TEXT"},   // compile-time options
              {.name = "engine_path", .sql = "TEXT"},
          },
      .constraints = {"UNIQUE(experiment_id, name)"},
  });

  schema.tables.push_back(TableDef{
      .name = "runs",
      .columns =
          {
              {.name = "id", .sql = "INTEGER PRIMARY KEY"},
              {.name = "experiment_id", .sql = "INTEGER NOT NULL REFERENCES experiments(id)"},
              {.name = "variant_id", .sql = "INTEGER NOT NULL REFERENCES variants(id)"},
              {.name = "environment_id", .sql = "INTEGER REFERENCES environment(id)"},
              {.name = "model", .sql = "TEXT NOT NULL"},
              {.name = "repeat", .sql = "INTEGER NOT NULL"},
              {.name = "ordinal", .sql = "INTEGER"},  // position in the planned order
              {.name = "prompt_index", .sql = "INTEGER"},
              {.name = "status", .sql = "TEXT NOT NULL"},  // ok | error | crash | timeout | oom
              {.name = "exit_code", .sql = "INTEGER"},
              {.name = "signal", .sql = "INTEGER"},
              {.name = "wall_ms", .sql = "REAL"},
              {.name = "started_at", .sql = "TEXT"},
              {.name = "finished_at", .sql = "TEXT"},
              {.name = "command", .sql = "TEXT"},
              {.name = "stderr_tail", .sql = "TEXT"},
              {.name = "decode_ms_json", .sql = "TEXT"},  // raw per-token samples
              {.name = "metrics_json", .sql = "TEXT"},    // the engine's JSON as written
              {.name = "load_1m", .sql = "REAL", .since = 2},  // load average when it started
              // The model disk's read counter over the run (io_counters.h), and where it came
              // from ("vda stat" counts the whole machine, "cgroup io.stat" the engine alone).
              {.name = "disk_read_bytes", .sql = "INTEGER", .since = 6},
              {.name = "disk_read_source", .sql = "TEXT", .since = 6},
              // Share of the expert files' bytes in the page cache just before the run (mincore).
              {.name = "expert_resident_before", .sql = "REAL", .since = 6},
          },
      .constraints = {"UNIQUE(experiment_id, variant_id, model, repeat)"},
  });

  schema.tables.push_back(TableDef{
      .name = "metrics",
      .columns =
          {
              {.name = "run_id", .sql = "INTEGER PRIMARY KEY REFERENCES runs(id)"},
              {.name = "prompt_tokens", .sql = "INTEGER"},
              {.name = "generated_tokens", .sql = "INTEGER"},
              {.name = "ttft_ms", .sql = "REAL"},
              {.name = "decode_tok_s", .sql = "REAL"},
              {.name = "prefill_tok_s", .sql = "REAL"},
              {.name = "attention_ms", .sql = "REAL"},  // phase_ms_per_token.*
              {.name = "linear_attention_ms", .sql = "REAL"},
              {.name = "routing_ms", .sql = "REAL"},
              {.name = "expert_io_wait_ms", .sql = "REAL"},
              {.name = "expert_compute_ms", .sql = "REAL"},
              {.name = "lm_head_ms", .sql = "REAL"},
              {.name = "other_ms", .sql = "REAL"},
              {.name = "expert_bytes_read_per_token", .sql = "REAL"},
              {.name = "experts_loaded_per_token", .sql = "REAL"},
              {.name = "peak_rss_mb", .sql = "REAL"},
              {.name = "params_total", .sql = "INTEGER"},
              {.name = "params_active", .sql = "INTEGER"},
              {.name = "model_type", .sql = "TEXT"},
              {.name = "engine_commit", .sql = "TEXT"},
              {.name = "engine_build_type", .sql = "TEXT"},
              {.name = "engine_flags", .sql = "TEXT"},
              // From the engine's routing telemetry, over the whole run (prefill and decode).
              {.name = "expert_bytes_read", .sql = "REAL", .since = 6},
              {.name = "bytes_from_disk", .sql = "REAL", .since = 6},  // not in the page cache
              {.name = "disk_bytes_per_token", .sql = "REAL", .since = 6},
              {.name = "cold_share", .sql = "REAL", .since = 6},  // bytes_from_disk / expert_bytes_read
              {.name = "cache_hit_rate", .sql = "REAL", .since = 6},  // the expert cache's, if any
              {.name = "expert_gbps", .sql = "REAL", .since = 6},  // expert bytes x decode tok/s
              // The expert stream's roofline from the machine profile: its disk bytes at the
              // disk's random-read rate plus the rest at the RAM read rate (one thread or all
              // cores, as the run computed), and the run's share of it.
              {.name = "roofline_tok_s", .sql = "REAL", .since = 6},
              {.name = "roofline_share", .sql = "REAL", .since = 6},
              // The engine's scoring of its --predictor (routing.predictor), when it has one.
              {.name = "predictor_precision", .sql = "REAL", .since = 10},
              {.name = "predictor_recall", .sql = "REAL", .since = 10},
          },
  });

  schema.tables.push_back(TableDef{
      .name = "quality",
      .columns =
          {
              {.name = "id", .sql = "INTEGER PRIMARY KEY"},
              {.name = "experiment_id", .sql = "INTEGER NOT NULL REFERENCES experiments(id)"},
              {.name = "variant_id", .sql = "INTEGER NOT NULL REFERENCES variants(id)"},
              {.name = "model", .sql = "TEXT NOT NULL"},
              {.name = "status", .sql = "TEXT NOT NULL"},  // ok | error
              {.name = "error", .sql = "TEXT"},
              {.name = "tokens", .sql = "INTEGER"},
              {.name = "ppl", .sql = "REAL"},
              {.name = "ref_ppl", .sql = "REAL"},
              {.name = "ppl_ratio",
               .sql = "REAL",
               .results_rank = 11,
               .shown = Shown::kIfVaries,
               .label = "PPL ratio",
               .precision = 4,
               .ci_low = "ppl_ratio_ci_low",
               .ci_high = "ppl_ratio_ci_high"},
              {.name = "nll_mean", .sql = "REAL"},
              {.name = "kld_mean",
               .sql = "REAL",
               .results_rank = 9,
               .shown = Shown::kIfVaries,
               .label = "KLD mean",
               .precision = 5,
               .ci_low = "kld_mean_ci_low",
               .ci_high = "kld_mean_ci_high"},
              {.name = "kld_p50", .sql = "REAL"},
              {.name = "kld_p90", .sql = "REAL"},
              {.name = "kld_p95", .sql = "REAL"},
              {.name = "kld_p99",
               .sql = "REAL",
               .results_rank = 10,
               .shown = Shown::kIfVaries,
               .label = "KLD p99",
               .precision = 5},
              {.name = "kld_max", .sql = "REAL"},
              {.name = "top1_agree",
               .sql = "REAL",
               .results_rank = 12,
               .shown = Shown::kIfVaries,
               .label = "top-1 agree",
               .precision = 4,
               .ci_low = "top1_agree_ci_low",
               .ci_high = "top1_agree_ci_high"},
              {.name = "json_valid", .sql = "INTEGER"},
              {.name = "json_total", .sql = "INTEGER"},
              {.name = "json_validity",
               .sql = "REAL",
               .results_rank = 13,
               .shown = Shown::kIfVaries,
               .label = "JSON valid",
               .precision = 3,
               .ci_low = "json_validity_ci_low",
               .ci_high = "json_validity_ci_high"},
              {.name = "reference_logits", .sql = "TEXT"},
              // 95% intervals: KLD mean +- 1.96 standard errors over the tokens and the
              // perplexity ratio's from the per-token log-likelihood differences (both from the
              // logits, as llama.cpp's perplexity tool reports them), Wilson intervals for the
              // top-1 agreement and JSON validity proportions.
              {.name = "kld_mean_ci_low", .sql = "REAL", .since = 5},
              {.name = "kld_mean_ci_high", .sql = "REAL", .since = 5},
              {.name = "ppl_ratio_ci_low", .sql = "REAL", .since = 5},
              {.name = "ppl_ratio_ci_high", .sql = "REAL", .since = 5},
              {.name = "top1_agree_ci_low", .sql = "REAL", .since = 5},
              {.name = "top1_agree_ci_high", .sql = "REAL", .since = 5},
              {.name = "json_validity_ci_low", .sql = "REAL", .since = 5},
              {.name = "json_validity_ci_high", .sql = "REAL", .since = 5},
              {.name = "measured_on", .sql = "TEXT", .since = 9},  // the folder evaluated
          },
      .constraints = {"UNIQUE(experiment_id, variant_id, model)"},
  });

  schema.tables.push_back(TableDef{
      .name = "verdicts",
      .columns =
          {
              {.name = "id", .sql = "INTEGER PRIMARY KEY"},
              {.name = "experiment_id", .sql = "INTEGER NOT NULL REFERENCES experiments(id)"},
              {.name = "variant_id", .sql = "INTEGER NOT NULL REFERENCES variants(id)"},
              {.name = "model",
               .sql = "TEXT NOT NULL",
               .results_rank = 2,
               .shown = Shown::kIfVaries,
               .label = "model",
               .tsv_rank = 2,
               .tsv_name = "model"},
              {.name = "n_ok",
               .sql = "INTEGER",
               .results_rank = 3,
               .shown = Shown::kIfVaries,
               .label = "ok runs",
               .precision = 0},
              {.name = "n_failed",
               .sql = "INTEGER",
               .results_rank = 4,
               .shown = Shown::kIfVaries,
               .label = "failed",
               .precision = 0},
              {.name = "tok_s_median",
               .sql = "REAL",
               .results_rank = 5,
               .shown = Shown::kAlways,
               .label = "tok/s [95% CI]",
               .ci_low = "tok_s_ci_low",
               .ci_high = "tok_s_ci_high",
               .tsv_rank = 5,
               .tsv_name = "tok_sec"},
              {.name = "tok_s_ci_low", .sql = "REAL"},
              {.name = "tok_s_ci_high", .sql = "REAL"},
              {.name = "speedup",
               .sql = "REAL",
               .results_rank = 6,
               .shown = Shown::kAlways,
               .label = "speed-up [95% CI]",
               .precision = 3,
               .ci_low = "speedup_ci_low",
               .ci_high = "speedup_ci_high"},
              {.name = "speedup_ci_low", .sql = "REAL"},
              {.name = "speedup_ci_high", .sql = "REAL"},
              {.name = "ttft_ms_median",
               .sql = "REAL",
               .results_rank = 7,
               .shown = Shown::kIfVaries,
               .label = "TTFT ms",
               .precision = 1,
               .tsv_rank = 6,
               .tsv_name = "ttft_ms"},
              {.name = "peak_rss_mb_median", .sql = "REAL"},
              {.name = "mem_gb",
               .sql = "REAL",
               .results_rank = 8,
               .shown = Shown::kIfVaries,
               .label = "peak GB",
               .precision = 3,
               .tsv_rank = 7,
               .tsv_name = "mem_gb"},
              {.name = "params_b", .sql = "REAL", .precision = 4, .tsv_rank = 3,
               .tsv_name = "params_B"},
              {.name = "active_b", .sql = "REAL", .precision = 4, .tsv_rank = 4,
               .tsv_name = "active_B"},
              {.name = "verdict",
               .sql = "TEXT NOT NULL",  // baseline | keep | discard | crash
               .results_rank = 22,
               .shown = Shown::kAlways,
               .label = "verdict",
               .tsv_rank = 8,
               .tsv_name = "status"},
              {.name = "reason",
               .sql = "TEXT",
               .results_rank = 23,
               .shown = Shown::kAlways,
               .label = "why"},
              {.name = "description", .sql = "TEXT", .tsv_rank = 9, .tsv_name = "description"},
              {.name = "keep_metric", .sql = "TEXT", .since = 5},  // what `speedup` measures
              {.name = "paired", .sql = "INTEGER", .since = 5},    // runs paired by repeat
              {.name = "n_compared", .sql = "INTEGER", .since = 5},  // runs or pairs compared
              {.name = "warnings",
               .sql = "TEXT",
               .since = 5,
               .results_rank = 21,
               .shown = Shown::kIfVaries,
               .label = "warnings"},
              // Telemetry medians over the successful runs, shown where they vary.
              {.name = "cache_hit_rate",
               .sql = "REAL",
               .since = 6,
               .results_rank = 14,
               .shown = Shown::kIfVaries,
               .label = "hit rate",
               .precision = 3},
              {.name = "disk_mb_per_token",
               .sql = "REAL",
               .since = 6,
               .results_rank = 15,
               .shown = Shown::kIfVaries,
               .label = "disk MB/tok",
               .precision = 3},
              {.name = "disk_gbps",  // disk MB/token x decode tok/s: the achieved disk rate
               .sql = "REAL",
               .since = 6,
               .results_rank = 16,
               .shown = Shown::kIfVaries,
               .label = "disk GB/s",
               .precision = 3},
              {.name = "roofline_share",
               .sql = "REAL",
               .since = 6,
               .results_rank = 17,
               .shown = Shown::kIfVaries,
               .label = "roofline",
               .precision = 3},
              {.name = "rss_budget_share",  // peak RSS / memory budget
               .sql = "REAL",
               .since = 6,
               .results_rank = 18,
               .shown = Shown::kIfVaries,
               .label = "RSS/budget",
               .precision = 3},
              {.name = "cold_share", .sql = "REAL", .since = 6},
              {.name = "predictor_precision",
               .sql = "REAL",
               .since = 10,
               .results_rank = 19,
               .shown = Shown::kIfVaries,
               .label = "pred. precision",
               .precision = 3},
              {.name = "predictor_recall",
               .sql = "REAL",
               .since = 10,
               .results_rank = 20,
               .shown = Shown::kIfVaries,
               .label = "pred. recall",
               .precision = 3},
          },
      .constraints = {"UNIQUE(experiment_id, variant_id, model)"},
  });
  return schema;
}

std::vector<ExportColumn> ranked_columns(const SchemaDef& schema, int ColumnDef::*rank) {
  std::vector<ExportColumn> out;
  for (const auto& table : schema.tables)
    for (const auto& column : table.columns)
      if (column.*rank > 0) out.push_back({std::string(table.name), &column});
  std::stable_sort(out.begin(), out.end(), [rank](const ExportColumn& a, const ExportColumn& b) {
    return a.column->*rank < b.column->*rank;
  });
  return out;
}

}  // namespace

const ColumnDef* TableDef::find(std::string_view column) const {
  for (const auto& c : columns)
    if (c.name == column) return &c;
  return nullptr;
}

const TableDef& SchemaDef::table(std::string_view name) const {
  for (const auto& t : tables)
    if (t.name == name) return t;
  fail("schema has no table {}", name);
}

bool SchemaDef::has_table(std::string_view name) const {
  for (const auto& t : tables)
    if (t.name == name) return true;
  return false;
}

std::vector<std::pair<std::string, std::string>> view_sql(const SchemaDef& schema) {
  for (const char* t : {"experiments", "variants", "runs", "metrics", "environment", "verdicts",
                        "quality"})
    if (!schema.has_table(t)) return {};
  // Columns of `table` as alias.column AS prefix_column, except those listed.
  auto columns = [&](std::string_view table, std::string_view alias, std::string_view prefix,
                     std::vector<std::string_view> skip) {
    std::string list;
    for (const auto& c : schema.table(table).columns) {
      if (std::find(skip.begin(), skip.end(), c.name) != skip.end()) continue;
      list += fmt::format(",\n  {}.{} AS {}{}", alias, c.name, prefix, c.name);
    }
    return list;
  };
  std::string runs_flat =
      "CREATE VIEW runs_flat AS SELECT\n  e.id AS experiment_id, e.name AS experiment, "
      "e.track AS track, e.rerun_of AS rerun_of,\n  v.name AS variant, v.is_baseline AS "
      "is_baseline, v.switches_json AS switches_json, v.options_json AS options_json, "
      "v.build_options_json AS build_options_json" +
      columns("runs", "r", "", {"experiment_id", "metrics_json"}) +
      columns("metrics", "m", "", {"run_id"}) +
      columns("environment", "env", "env_", {"id", "experiment_id"}) +
      "\nFROM runs r JOIN experiments e ON e.id = r.experiment_id JOIN variants v ON v.id = "
      "r.variant_id LEFT JOIN metrics m ON m.run_id = r.id LEFT JOIN environment env ON env.id = "
      "r.environment_id";
  std::string verdicts_flat =
      "CREATE VIEW verdicts_flat AS SELECT\n  e.name AS experiment, v.name AS variant, "
      "v.options_json AS options_json" +
      columns("verdicts", "d", "", {}) +
      columns("quality", "q", "quality_", {"id", "experiment_id", "variant_id", "model"}) +
      "\nFROM verdicts d JOIN experiments e ON e.id = d.experiment_id JOIN variants v ON v.id = "
      "d.variant_id LEFT JOIN quality q ON q.experiment_id = d.experiment_id AND q.variant_id = "
      "d.variant_id AND q.model = d.model";
  return {{"runs_flat", runs_flat}, {"verdicts_flat", verdicts_flat}};
}

const SchemaDef& lab_schema() {
  static const SchemaDef schema = build_schema();
  return schema;
}

const std::vector<std::string_view>& phase_names() {
  static const std::vector<std::string_view> names = {
      "attention",      "linear_attention", "routing", "expert_io_wait",
      "expert_compute", "lm_head",          "other"};
  return names;
}

std::string create_table_sql(const TableDef& table) {
  std::string sql = fmt::format("CREATE TABLE IF NOT EXISTS {} (", table.name);
  bool first = true;
  for (const auto& column : table.columns) {
    sql += fmt::format("{}\n  {} {}", first ? "" : ",", column.name, column.sql);
    first = false;
  }
  for (const auto& constraint : table.constraints) sql += fmt::format(",\n  {}", constraint);
  return sql + "\n)";
}

std::vector<std::string> migration_sql(const SchemaDef& schema, int from_version) {
  std::vector<std::string> statements;
  for (const auto& table : schema.tables) {
    if (table.since > from_version) {
      statements.push_back(create_table_sql(table));
      continue;
    }
    for (const auto& column : table.columns)
      if (column.since > from_version)
        statements.push_back(
            fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table.name, column.name, column.sql));
  }
  return statements;
}

SchemaDef schema_at(const SchemaDef& schema, int version) {
  SchemaDef old;
  old.version = version;
  for (const auto& table : schema.tables) {
    if (table.since > version) continue;
    TableDef t = table;
    t.columns.clear();
    for (const auto& column : table.columns)
      if (column.since <= version) t.columns.push_back(column);
    old.tables.push_back(std::move(t));
  }
  return old;
}

std::vector<ExportColumn> results_columns(const SchemaDef& schema) {
  return ranked_columns(schema, &ColumnDef::results_rank);
}

std::vector<ExportColumn> tsv_columns(const SchemaDef& schema) {
  return ranked_columns(schema, &ColumnDef::tsv_rank);
}

}  // namespace streammoe::lab
