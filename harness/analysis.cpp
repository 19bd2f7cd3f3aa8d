#include "harness/analysis.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/util/error.h"
#include "harness/stats.h"
#include "harness/verdict.h"

namespace streammoe::lab {

KeepRule keep_rule_from_json(const nlohmann::json& keep) {
  KeepRule rule;
  if (!keep.is_object()) return rule;
  auto opt = [&](const char* key) -> std::optional<double> {
    if (keep.contains(key) && keep[key].is_number()) return keep[key].get<double>();
    return std::nullopt;
  };
  if (keep.contains("metric") && keep["metric"].is_string()) {
    auto names = keep_metrics();
    std::string metric = keep["metric"].get<std::string>();
    if (std::find(names.begin(), names.end(), metric) != names.end()) rule.metric = metric;
  }
  rule.higher_is_better = keep.contains("higher_is_better") && keep["higher_is_better"].is_boolean()
                              ? keep["higher_is_better"].get<bool>()
                              : higher_is_better(rule.metric);
  if (auto v = opt("min_runs")) rule.min_runs = static_cast<int>(*v);
  if (keep.contains("paired") && keep["paired"].is_boolean()) rule.paired = keep["paired"].get<bool>();
  if (auto v = opt("min_speedup")) rule.min_speedup = *v;
  if (auto v = opt("confidence")) rule.confidence = *v;
  rule.max_kld_mean = opt("max_kld_mean");
  rule.max_kld_p99 = opt("max_kld_p99");
  rule.min_top1_agree = opt("min_top1_agree");
  rule.max_ppl_ratio = opt("max_ppl_ratio");
  rule.min_json_validity = opt("min_json_validity");
  rule.max_json_validity_drop = opt("max_json_validity_drop");
  return rule;
}

namespace {

struct VariantRuns {
  VariantSamples samples;
  std::vector<double> ttft_ms, peak_rss_mb, params_total, params_active;
  std::vector<double> cache_hit_rate, disk_mb_per_token, disk_gbps, roofline_share, cold_share;
  std::vector<double> predictor_precision, predictor_recall;
};

std::optional<double> opt_value(const SqlValue& v) {
  if (is_null(v)) return std::nullopt;
  return to_double(v);
}

SqlValue sql(double v) { return std::isfinite(v) ? SqlValue(v) : SqlValue(); }

double median_or_nan(const std::vector<double>& v) { return median(v); }

}  // namespace

void update_verdicts(Store& store, int64_t experiment_id) {
  auto experiments = store.query("SELECT name, plan_json FROM experiments WHERE id = ?",
                                 {experiment_id});
  if (experiments.empty()) fail("experiment {} is not in {}", experiment_id,
                                store.db().path().string());
  std::string experiment_name = to_text(experiments[0].at("name"));
  nlohmann::json plan = nlohmann::json::parse(to_text(experiments[0].at("plan_json")), nullptr,
                                              false);
  KeepRule rule = keep_rule_from_json(plan.is_object() ? plan.value("keep", nlohmann::json()) : nlohmann::json());
  bool quality_enabled = plan.is_object() && plan.contains("quality") && !plan["quality"].is_null();

  auto variants = store.query(
      "SELECT id, name, description, is_baseline, switches_json FROM variants "
      "WHERE experiment_id = ? ORDER BY ordinal",
      {experiment_id});
  int64_t baseline_id = -1;
  for (const auto& v : variants)
    if (to_int(v.at("is_baseline"))) baseline_id = to_int(v.at("id"));

  // (variant, model) -> runs
  std::map<std::pair<int64_t, std::string>, VariantRuns> runs;
  std::map<std::pair<int64_t, std::string>, std::map<std::string, int>> failures;
  std::vector<std::string> models;
  std::vector<double> loads;
  for (const auto& row : store.query(
           fmt::format("SELECT r.variant_id, r.model, r.status, r.repeat, r.load_1m, "
                       "m.decode_tok_s, m.ttft_ms, m.peak_rss_mb, m.params_total, "
                       "m.params_active, m.cache_hit_rate, m.disk_bytes_per_token, "
                       "m.roofline_share, m.cold_share, m.predictor_precision, m.predictor_recall, "
                       "m.{} AS keep_metric FROM runs r LEFT "
                       "JOIN metrics m ON m.run_id = r.id WHERE r.experiment_id = ? ORDER BY "
                       "r.ordinal",
                       rule.metric),
           {experiment_id})) {
    if (auto load = opt_value(row.at("load_1m"))) loads.push_back(*load);
    std::string model = to_text(row.at("model"));
    if (std::find(models.begin(), models.end(), model) == models.end()) models.push_back(model);
    auto key = std::make_pair(to_int(row.at("variant_id")), model);
    VariantRuns& r = runs[key];
    std::string status = to_text(row.at("status"));
    auto tok_s = opt_value(row.at("decode_tok_s"));
    auto metric = opt_value(row.at("keep_metric"));
    if (status == "ok" && tok_s && metric) {
      r.samples.tok_s.push_back(*tok_s);
      r.samples.metric.push_back(*metric);
      r.samples.repeats.push_back(static_cast<int>(to_int(row.at("repeat"))));
      if (auto v = opt_value(row.at("ttft_ms"))) r.ttft_ms.push_back(*v);
      if (auto v = opt_value(row.at("peak_rss_mb"))) r.peak_rss_mb.push_back(*v);
      if (auto v = opt_value(row.at("params_total"))) r.params_total.push_back(*v);
      if (auto v = opt_value(row.at("params_active"))) r.params_active.push_back(*v);
      if (auto v = opt_value(row.at("cache_hit_rate"))) r.cache_hit_rate.push_back(*v);
      if (auto v = opt_value(row.at("disk_bytes_per_token"))) {
        r.disk_mb_per_token.push_back(*v / 1e6);
        r.disk_gbps.push_back(*v * *tok_s / 1e9);
      }
      if (auto v = opt_value(row.at("roofline_share"))) r.roofline_share.push_back(*v);
      if (auto v = opt_value(row.at("cold_share"))) r.cold_share.push_back(*v);
      if (auto v = opt_value(row.at("predictor_precision"))) r.predictor_precision.push_back(*v);
      if (auto v = opt_value(row.at("predictor_recall"))) r.predictor_recall.push_back(*v);
    } else {
      ++r.samples.n_failed;
      ++failures[key][status != "ok" ? status : tok_s ? "no " + rule.metric : "no decode_tok_s"];
    }
  }
  for (auto& [key, counts] : failures) {
    std::string text;
    for (const auto& [status, n] : counts) text += fmt::format("{}{} x{}", text.empty() ? "" : ", ", status, n);
    runs[key].samples.failures = text;
  }

  std::map<std::pair<int64_t, std::string>, QualityResult> quality;
  for (const auto& row : store.query(
           "SELECT variant_id, model, status, error, kld_mean, kld_p99, top1_agree, ppl_ratio, "
           "json_validity FROM quality WHERE experiment_id = ?",
           {experiment_id})) {
    QualityResult q;
    q.ok = to_text(row.at("status")) == "ok";
    q.error = to_text(row.at("error"));
    q.kld_mean = opt_value(row.at("kld_mean"));
    q.kld_p99 = opt_value(row.at("kld_p99"));
    q.top1_agree = opt_value(row.at("top1_agree"));
    q.ppl_ratio = opt_value(row.at("ppl_ratio"));
    q.json_validity = opt_value(row.at("json_validity"));
    quality[{to_int(row.at("variant_id")), to_text(row.at("model"))}] = q;
  }

  const bool cold = plan.is_object() && plan.value("cache", std::string()) == "cold";
  auto budget = store.query("SELECT MAX(budget_bytes) FROM environment WHERE experiment_id = ?",
                            {experiment_id});
  const double budget_mb = to_double(budget[0].values[0]) / (1 << 20);
  std::vector<std::string> experiment_warnings;

  Transaction transaction(store.db());
  store.db().query("DELETE FROM verdicts WHERE experiment_id = ?", {experiment_id});
  for (const auto& model : models) {
    const VariantRuns& baseline = runs[{baseline_id, model}];
    // Cold that is cold: a cold experiment whose baseline found most expert bytes in the page
    // cache measured a warm machine, and none of its variants is kept.
    std::optional<std::string> not_cold;
    double baseline_cold = median(baseline.cold_share);
    if (cold && std::isfinite(baseline_cold) && baseline_cold < 0.5) {
      not_cold = fmt::format("not cold: the baseline read only {:.0f}% of its expert bytes from "
                             "the disk{}",
                             100 * baseline_cold, models.size() > 1 ? " on " + model : "");
      experiment_warnings.push_back(*not_cold);
    }
    std::optional<QualityResult> baseline_quality;
    if (quality.count({baseline_id, model})) baseline_quality = quality[{baseline_id, model}];
    for (const auto& v : variants) {
      int64_t variant_id = to_int(v.at("id"));
      auto key = std::make_pair(variant_id, model);
      if (!runs.count(key)) continue;  // not run yet (an interrupted experiment)
      const VariantRuns& r = runs[key];
      VerdictInputs in;
      in.is_baseline = variant_id == baseline_id;
      in.variant = r.samples;
      in.baseline = baseline.samples;
      in.quality_enabled = quality_enabled;
      if (quality.count(key)) in.quality = quality[key];
      in.baseline_quality = baseline_quality;
      in.not_cold = not_cold;
      Verdict verdict = decide(in, rule);

      std::string description = to_text(v.at("description"));
      if (description.empty()) description = to_text(v.at("switches_json"));
      double rss = median_or_nan(r.peak_rss_mb);
      bool has_samples = !r.samples.tok_s.empty();
      Fields fields = {
          {"experiment_id", experiment_id},
          {"variant_id", variant_id},
          {"model", model},
          {"n_ok", static_cast<int64_t>(r.samples.tok_s.size())},
          {"n_failed", static_cast<int64_t>(r.samples.n_failed)},
          {"tok_s_median", has_samples ? sql(verdict.tok_s_median) : SqlValue()},
          {"tok_s_ci_low", has_samples ? sql(verdict.tok_s_ci.low) : SqlValue()},
          {"tok_s_ci_high", has_samples ? sql(verdict.tok_s_ci.high) : SqlValue()},
          {"speedup", verdict.speedup ? sql(verdict.speedup->ratio) : SqlValue()},
          {"speedup_ci_low", verdict.speedup ? sql(verdict.speedup->ci.low) : SqlValue()},
          {"speedup_ci_high", verdict.speedup ? sql(verdict.speedup->ci.high) : SqlValue()},
          {"ttft_ms_median", sql(median_or_nan(r.ttft_ms))},
          {"peak_rss_mb_median", sql(rss)},
          {"mem_gb", sql(rss / 1024.0)},
          {"params_b", sql(median_or_nan(r.params_total) / 1e9)},
          {"active_b", sql(median_or_nan(r.params_active) / 1e9)},
          {"verdict", to_string(verdict.kind)},
          {"reason", verdict.reason},
          {"description", fmt::format("{}/{}: {}", experiment_name, to_text(v.at("name")), description)},
          {"cache_hit_rate", sql(median_or_nan(r.cache_hit_rate))},
          {"disk_mb_per_token", sql(median_or_nan(r.disk_mb_per_token))},
          {"disk_gbps", sql(median_or_nan(r.disk_gbps))},
          {"roofline_share", sql(median_or_nan(r.roofline_share))},
          {"rss_budget_share", sql(rss / budget_mb)},
          {"cold_share", sql(median_or_nan(r.cold_share))},
          {"predictor_precision", sql(median_or_nan(r.predictor_precision))},
          {"predictor_recall", sql(median_or_nan(r.predictor_recall))},
          {"keep_metric", rule.metric},
          {"paired", int64_t{verdict.paired}},
          {"n_compared", int64_t{verdict.n_compared}},
          {"warnings", verdict.warnings.empty() ? SqlValue()
                                                : SqlValue(fmt::format("{}", fmt::join(verdict.warnings, "; ")))},
      };
      store.insert("verdicts", fields);
    }
  }
  auto cores = store.query("SELECT MAX(cpu_cores) FROM environment WHERE experiment_id = ?",
                           {experiment_id});
  if (auto noisy = noisy_machine(loads, static_cast<int>(to_int(cores[0].values[0]))))
    experiment_warnings.push_back(*noisy);
  store.update("experiments", experiment_id,
               {{"warnings", experiment_warnings.empty()
                                 ? SqlValue()
                                 : SqlValue(fmt::format("{}", fmt::join(experiment_warnings, "; ")))}});
  transaction.commit();
}

}  // namespace streammoe::lab
