#include "report/terminal.h"

#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "harness/stats.h"
#include "harness/rerun.h"
#include "report/exporter.h"

namespace streammoe::lab {

namespace {

// Columns padded to their widest cell, for a fixed-width terminal.
std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += fmt::format("{:<{}}", row[i], i + 1 < row.size() ? widths[i] + 2 : 0);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// decode tok/s of the ok runs, by (variant name, model).
std::map<std::pair<std::string, std::string>, std::vector<double>> samples_of(Store& store,
                                                                            int64_t id) {
  std::map<std::pair<std::string, std::string>, std::vector<double>> out;
  for (const auto& row : store.query(
           "SELECT v.name, r.model, m.decode_tok_s FROM runs r JOIN variants v ON v.id = "
           "r.variant_id JOIN metrics m ON m.run_id = r.id WHERE r.experiment_id = ? AND "
           "r.status = 'ok' AND m.decode_tok_s IS NOT NULL ORDER BY v.ordinal, r.repeat",
           {id}))
    out[{to_text(row.at("name")), to_text(row.at("model"))}].push_back(
        to_double(row.at("decode_tok_s")));
  return out;
}

}  // namespace

std::string list_view(Store& store) {
  std::vector<std::vector<std::string>> rows = {
      {"id", "name", "track", "started", "status", "runs", "failed", "kept", "best tok/s"}};
  for (const auto& r : store.query(
           "SELECT e.id, e.name, e.track, e.started_at, e.status, e.runs_planned, "
           "(SELECT COUNT(*) FROM runs WHERE experiment_id = e.id) AS recorded, "
           "(SELECT COUNT(*) FROM runs WHERE experiment_id = e.id AND status <> 'ok') AS failed, "
           "(SELECT COUNT(*) FROM verdicts WHERE experiment_id = e.id AND verdict = 'keep') AS "
           "kept, (SELECT MAX(tok_s_median) FROM verdicts WHERE experiment_id = e.id) AS best "
           "FROM experiments e ORDER BY e.id")) {
    double best = to_double(r.at("best"));
    rows.push_back({to_text(r.at("id")), to_text(r.at("name")), to_text(r.at("track")),
                    to_text(r.at("started_at")), to_text(r.at("status")),
                    fmt::format("{}/{}", to_text(r.at("recorded")), to_text(r.at("runs_planned"))),
                    to_text(r.at("failed")), to_text(r.at("kept")),
                    std::isfinite(best) ? fmt::format("{:.2f}", best) : ""});
  }
  if (rows.size() == 1) return "no experiments yet\n";
  return aligned(rows);
}

std::string show_view(Store& store, int64_t experiment_id) {
  LabResults results = load_results(store, {experiment_id});
  if (results.experiments.empty()) return "no such experiment\n";
  const ExperimentResults& e = results.experiments.front();
  std::string out = fmt::format("experiment #{} {} ({}), started {}\n", e.id, e.name, e.status,
                                e.started_at);
  if (!e.hypothesis.empty()) out += fmt::format("hypothesis: {}\n", e.hypothesis);
  out += fmt::format("runs: {}/{} recorded, {} failed, {} session(s)\n", e.runs_recorded,
                     e.runs_planned, e.runs_failed, e.sessions);
  out += fmt::format("environment: {}\n", environment_summary(e));
  if (!e.warnings.empty()) out += fmt::format("warning: {}\n", e.warnings);
  auto rerun = store.query("SELECT rerun_of FROM experiments WHERE id = ?", {experiment_id});
  if (!rerun.empty() && !is_null(rerun[0].values[0])) {
    int64_t original = to_int(rerun[0].values[0]);
    out += fmt::format("rerun of #{}: {}\n", original,
                       compare_verdicts(store, original, experiment_id).text());
  }
  out += "\n";
  out += markdown_table(results_table(e));
  auto failures = store.query(
      "SELECT v.name, r.model, r.repeat, r.status, r.stderr_tail FROM runs r JOIN variants v ON "
      "v.id = r.variant_id WHERE r.experiment_id = ? AND r.status <> 'ok' ORDER BY r.ordinal",
      {experiment_id});
  if (!failures.empty()) {
    out += "\nfailed runs:\n";
    for (const auto& f : failures) {
      std::string tail = to_text(f.at("stderr_tail"));
      while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
      auto last = tail.rfind('\n');
      out += fmt::format("  {} rep {} on {}: {}: {}\n", to_text(f.at("name")),
                         to_int(f.at("repeat")) + 1, to_text(f.at("model")), to_text(f.at("status")),
                         last == std::string::npos ? tail : tail.substr(last + 1));
    }
  }
  return out;
}

std::map<std::string, std::string> experiment_conditions(Store& store, int64_t id) {
  std::map<std::string, std::string> out;
  auto rows = store.query("SELECT plan_json FROM experiments WHERE id = ?", {id});
  if (rows.empty()) return out;
  auto plan = nlohmann::json::parse(to_text(rows[0].at("plan_json")), nullptr, false);
  if (!plan.is_object()) return out;
  auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  if (plan.contains("workload") && plan["workload"].is_object())
    for (const char* key : {"prompts", "token_ids", "tokens", "prefill", "ignore_eos"})
      if (plan["workload"].contains(key)) out[std::string("workload.") + key] = text(plan["workload"][key]);
  // routing: the learned routing the speed runs replayed (trace, layer map, windows).
  for (const char* key : {"cache", "drop_caches", "memory_budget_bytes", "warmup", "routing"})
    if (plan.contains(key)) out[key] = text(plan[key]);
  return out;
}

namespace {

struct VariantKey {
  std::string name, model;
  std::map<std::string, std::string> options, build;
};

std::map<std::string, std::string> json_map(const std::string& text) {
  std::map<std::string, std::string> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it)
      out[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  return out;
}

// Same options on every switch both know (an engine may have gained switches in between; a new
// switch at its default changes nothing), same compile-time options, same model.
bool same_run(const VariantKey& a, const VariantKey& b) {
  if (a.model != b.model || a.build != b.build) return false;
  for (const auto& [name, value] : a.options) {
    auto it = b.options.find(name);
    if (it != b.options.end() && it->second != value) return false;
  }
  return true;
}

std::vector<VariantKey> variant_keys(Store& store, int64_t id) {
  std::vector<VariantKey> out;
  for (const auto& r : store.query(
           "SELECT DISTINCT v.name, r.model, v.options_json, v.build_options_json FROM runs r "
           "JOIN variants v ON v.id = r.variant_id WHERE r.experiment_id = ? ORDER BY v.ordinal, "
           "r.model",
           {id}))
    out.push_back({to_text(r.at("name")), to_text(r.at("model")),
                   json_map(to_text(r.at("options_json"))),
                   json_map(to_text(r.at("build_options_json")))});
  return out;
}

}  // namespace

std::string compare_view(Store& store, int64_t a, int64_t b, bool any_conditions) {
  auto name_of = [&](int64_t id) {
    auto rows = store.query("SELECT name FROM experiments WHERE id = ?", {id});
    return rows.empty() ? std::string("?") : to_text(rows[0].values[0]);
  };
  auto samples_a = samples_of(store, a), samples_b = samples_of(store, b);
  std::map<std::pair<std::string, std::string>, std::string> verdict_a, verdict_b;
  for (auto [id, verdicts] : {std::pair{a, &verdict_a}, std::pair{b, &verdict_b}})
    for (const auto& r : store.query(
             "SELECT v.name, d.model, d.verdict FROM verdicts d JOIN variants v ON v.id = "
             "d.variant_id WHERE d.experiment_id = ?",
             {id}))
      (*verdicts)[{to_text(r.at("name")), to_text(r.at("model"))}] = to_text(r.at("verdict"));

  std::string out = fmt::format("A = #{} {}, B = #{} {}\n", a, name_of(a), b, name_of(b));
  auto conditions_a = experiment_conditions(store, a), conditions_b = experiment_conditions(store, b);
  std::vector<std::string> differences;
  std::set<std::string> keys;
  for (const auto& [k, v] : conditions_a) keys.insert(k);
  for (const auto& [k, v] : conditions_b) keys.insert(k);
  for (const auto& k : keys) {
    std::string va = conditions_a.count(k) ? conditions_a[k] : "(unset)";
    std::string vb = conditions_b.count(k) ? conditions_b[k] : "(unset)";
    if (va != vb) differences.push_back(fmt::format("{}: {} vs {}", k, va, vb));
  }
  for (const auto& d : differences) out += "  conditions differ: " + d + "\n";
  out += "\n";
  if (!differences.empty() && !any_conditions)
    return out + "no variant compared: the experiments ran under different conditions "
                 "(compare --any-conditions compares them anyway)\n";

  std::vector<std::vector<std::string>> rows = {
      {"variant", "model", "A tok/s", "B tok/s", "B/A [95% CI]", "A verdict", "B verdict"}};
  auto keys_b = variant_keys(store, b);
  std::set<size_t> used_b;
  for (const auto& ka : variant_keys(store, a)) {
    auto sa = samples_a.find({ka.name, ka.model});
    if (sa == samples_a.end()) continue;
    for (size_t j = 0; j < keys_b.size(); ++j) {
      const VariantKey& kb = keys_b[j];
      if (used_b.count(j) || !same_run(ka, kb)) continue;
      auto sb = samples_b.find({kb.name, kb.model});
      if (sb == samples_b.end()) continue;
      used_b.insert(j);
      RatioEstimate ratio = bootstrap_ratio_of_medians(sb->second, sa->second);
      rows.push_back({ka.name == kb.name ? ka.name : ka.name + " = " + kb.name, ka.model,
                      fmt::format("{:.2f}", median(sa->second)),
                      fmt::format("{:.2f}", median(sb->second)),
                      fmt::format("{:.3f} [{:.3f}, {:.3f}]", ratio.ratio, ratio.ci.low, ratio.ci.high),
                      verdict_a[{ka.name, ka.model}], verdict_b[{kb.name, kb.model}]});
      break;
    }
  }
  if (rows.size() == 1)
    return out + "no variant with successful runs in both ran the same options on the same model\n";
  return out + aligned(rows);
}

}  // namespace streammoe::lab
