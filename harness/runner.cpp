#include "harness/runner.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <variant>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/util/error.h"
#include "harness/analysis.h"
#include "harness/cache_control.h"
#include "harness/engine_builder.h"
#include "harness/environment.h"
#include "harness/progress.h"
#include "harness/quality.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

namespace {

// A private scratch folder (metrics files of the runs), removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "streammoe-lab-XXXXXX").string();
    if (!mkdtemp(pattern.data())) fail("{}: cannot create a scratch folder", pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::optional<double> number_at(const nlohmann::json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_number()) return j[key].get<double>();
  return std::nullopt;
}

SqlValue real(std::optional<double> v) { return v ? SqlValue(*v) : SqlValue(); }
SqlValue integer(std::optional<double> v) {
  return v ? SqlValue(static_cast<int64_t>(std::llround(*v))) : SqlValue();
}
SqlValue text_at(const nlohmann::json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return SqlValue();
}

// The metrics-table row for one run, taking whatever fields the engine wrote.
Fields metrics_fields(const nlohmann::json& m, const ExecResult& result) {
  Fields f;
  f.emplace_back("prompt_tokens", integer(number_at(m, "prompt_tokens")));
  f.emplace_back("generated_tokens", integer(number_at(m, "generated_tokens")));
  f.emplace_back("ttft_ms", real(number_at(m, "ttft_ms")));
  auto tok_s = number_at(m, "decode_tok_s");
  if (!tok_s && m.contains("decode_ms") && m["decode_ms"].is_array() && !m["decode_ms"].empty()) {
    // Older engines: derive the rate from the per-token samples.
    double total = 0;
    for (const auto& x : m["decode_ms"])
      if (x.is_number()) total += x.get<double>();
    if (total > 0) tok_s = 1000.0 * static_cast<double>(m["decode_ms"].size()) / total;
  }
  f.emplace_back("decode_tok_s", real(tok_s));
  f.emplace_back("prefill_tok_s", real(number_at(m, "prefill_tok_s")));
  const nlohmann::json phases = m.value("phase_ms_per_token", nlohmann::json::object());
  for (auto phase : phase_names()) {
    std::string key(phase);
    f.emplace_back(key + "_ms", real(number_at(phases, key.c_str())));
  }
  f.emplace_back("expert_bytes_read_per_token", real(number_at(m, "expert_bytes_read_per_token")));
  f.emplace_back("experts_loaded_per_token", real(number_at(m, "experts_loaded_per_token")));
  auto rss = number_at(m, "peak_rss_mb");
  if (!rss && result.max_rss_kb > 0) rss = result.max_rss_kb / 1024.0;  // from wait4
  f.emplace_back("peak_rss_mb", real(rss));
  const nlohmann::json model = m.value("model", nlohmann::json::object());
  f.emplace_back("params_total", integer(number_at(model, "params_total")));
  f.emplace_back("params_active", integer(number_at(model, "params_active")));
  f.emplace_back("model_type", text_at(model, "model_type"));
  const nlohmann::json build = m.value("build", nlohmann::json::object());
  f.emplace_back("engine_commit", text_at(build, "git_commit"));
  f.emplace_back("engine_build_type", text_at(build, "build_type"));
  f.emplace_back("engine_flags", text_at(build, "flags"));
  return f;
}

std::string classify(const ExecResult& result, bool oom_killed) {
  if (result.kind == ExitKind::kTimedOut) return "timeout";
  if (oom_killed) return "oom";
  if (result.kind == ExitKind::kSignaled) return "crash";
  if (!result.ok()) return "error";
  return "ok";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string json_text(const std::map<std::string, std::string>& m) {
  return nlohmann::json(m).dump();
}

}  // namespace

std::string model_label(const ExperimentSpec& spec, const fs::path& model) {
  fs::path relative = model.lexically_normal().lexically_relative(spec.root.lexically_normal());
  if (!relative.empty() && *relative.begin() != "..") return relative.string();
  return model.lexically_normal().string();
}

std::vector<std::string> Runner::generate_argv(const ExperimentSpec& spec, const RunPlan& plan,
                                               const fs::path& engine,
                                               const fs::path& metrics_path) {
  const Variant& variant = spec.variants[plan.variant_index];
  std::vector<std::string> argv = {engine.string(), "generate", "--model",
                                   spec.model_for(variant, plan.model_index).string()};
  for (auto& arg : prompt_args(spec.workload.token_ids ? "--ids" : "--prompt",
                               spec.workload.prompts[plan.prompt_index]))
    argv.push_back(arg);
  argv.push_back("--tokens");
  argv.push_back(std::to_string(spec.workload.tokens));
  for (auto& arg : switch_args(variant.switches)) argv.push_back(arg);
  argv.push_back("--metrics-json");
  argv.push_back(metrics_path.string());
  return argv;
}

void print_plan(const ExperimentSpec& spec, const fs::path& engine, const fs::path& build_root,
                std::ostream& out) {
  auto plans = plan_runs(spec);
  out << fmt::format("experiment {}: {} variants x {} models x {} repeats = {} runs, cache {}\n",
                     spec.name, spec.variants.size(), spec.models.size(), spec.repeats,
                     plans.size(), to_string(spec.cache));
  for (const auto& pack : spec.packs)
    out << fmt::format("  prepare {}: {} -> {}\n",
                       fs::exists(pack.folder / kPackStampFile) ? "(made before; reused if current)"
                                                                : "(to pack)",
                       pack.describe(model_label(spec, pack.source)), model_label(spec, pack.folder));
  for (const auto& v : spec.variants)
    out << fmt::format("  variant {}{}: {}{}{}\n", v.name, v.name == spec.baseline ? " (baseline)" : "",
                       json_text(v.switches),
                       v.build_options.empty() ? "" : " build " + json_text(v.build_options),
                       v.model.empty() ? "" : " model " + model_label(spec, v.model));
  for (const auto& plan : plans) {
    const Variant& v = spec.variants[plan.variant_index];
    fs::path binary = v.build_options.empty()
                          ? engine
                          : build_root / ("lab-<" + plan.build_key + ">") / "bin" / "streammoe";
    out << fmt::format("{:4} {} rep {} model {}: {}\n", plan.ordinal + 1, v.name, plan.repeat + 1,
                       model_label(spec, spec.models[plan.model_index]),
                       shell_join(Runner::generate_argv(spec, plan, binary, "METRICS.json")));
  }
  if (spec.quality.enabled)
    out << fmt::format("quality suite: {} variants x {} models against {}\n", spec.variants.size(),
                       spec.models.size(),
                       spec.quality.reference_model.empty() ? "each model"
                                                            : spec.quality.reference_model.string());
}

Runner::Runner(const ExperimentSpec& spec, Store& store, Executor& executor, RunnerOptions options)
    : spec_(spec), store_(store), executor_(executor), options_(std::move(options)) {}

RunnerSummary Runner::run() {
  RunnerSummary summary;
  const auto plans = plan_runs(spec_);
  summary.planned = static_cast<int>(plans.size());
  std::ostringstream discard;
  Progress progress(options_.progress ? *options_.progress : discard, options_.progress_tty,
                    summary.planned);
  const std::string identity = spec_.identity_hash();

  // --- derived models: packed once, reused while current; recorded with the plan -----------
  nlohmann::json plan_json = spec_.to_json();
  if (!spec_.packs.empty()) {
    plan_json["prepared_models"] = nlohmann::json::array();
    for (const auto& pack : spec_.packs) {
      progress.note(fmt::format("model: {} -> {} ...", pack.describe(model_label(spec_, pack.source)),
                                model_label(spec_, pack.folder)));
      PreparedModel prepared = prepare_packed_model(pack, options_.engine, executor_);
      progress.note(prepared.reused ? "model: reused (source and recipe unchanged)"
                                    : fmt::format("model: packed in {:.1f} s", prepared.seconds));
      nlohmann::json record = prepared.stamp;
      record["reused"] = prepared.reused;
      plan_json["prepared_models"].push_back(record);
    }
  }

  // --- the experiment row: a new one, or the one being resumed ---------------------------
  int64_t experiment_id = -1;
  if (options_.resume) {
    auto rows = store_.query(
        "SELECT id, spec_hash FROM experiments WHERE name = ? ORDER BY id DESC LIMIT 1",
        {spec_.name});
    if (!rows.empty()) {
      if (to_text(rows[0].at("spec_hash")) != identity)
        fail("{}: cannot resume experiment '{}' (#{}): its models, workload, variants or quality "
             "settings changed since it started; run without --resume to start a new one",
             spec_.file.string(), spec_.name, to_int(rows[0].at("id")));
      experiment_id = to_int(rows[0].at("id"));
      summary.resumed = true;
    }
  }
  if (experiment_id < 0) {
    Transaction transaction(store_.db());
    experiment_id = store_.insert(
        "experiments", {{"name", spec_.name},
                        {"hypothesis", spec_.hypothesis},
                        {"track", spec_.track},
                        {"spec_path", spec_.file.string()},
                        {"spec_yaml", spec_.yaml_text},
                        {"spec_hash", identity},
                        {"plan_json", plan_json.dump()},
                        {"runs_planned", static_cast<int64_t>(plans.size())},
                        {"status", std::string("running")},
                        {"started_at", now_iso8601()}});
    transaction.commit();
  } else {
    // The keep rule and hypothesis may be edited between sessions; verdicts use the latest.
    store_.update("experiments", experiment_id,
                  {{"plan_json", plan_json.dump()}, {"hypothesis", spec_.hypothesis},
                   {"status", std::string("running")}});
  }
  summary.experiment_id = experiment_id;

  // --- memory budget and environment -------------------------------------------------------
  std::optional<MemoryCgroup> cgroup;
  if (spec_.memory_budget_bytes)
    cgroup = MemoryCgroup::create(*spec_.memory_budget_bytes,
                                  fmt::format("streammoe-lab-{}", getpid()), options_.cgroup_roots);
  fs::path procs = cgroup ? cgroup->procs_file() : fs::path();
  Environment env = capture_environment(options_.source_dir, spec_.models.front());
  env.engine_path = options_.engine.string();
  env.cache_state = to_string(spec_.cache);
  env.drop_caches = spec_.drop_caches;
  env.budget_bytes = spec_.memory_budget_bytes;
  env.budget_enforced = cgroup && cgroup->enforced();
  env.budget_mechanism = cgroup ? cgroup->mechanism() : "none";
  env.budget_note = cgroup ? cgroup->note() : "no memory_budget in the experiment";
  int64_t environment_id;
  {
    Transaction transaction(store_.db());
    environment_id = store_.insert(
        "environment",
        {{"experiment_id", experiment_id},
         {"captured_at", env.captured_at},
         {"git_commit", env.git_commit},
         {"git_dirty", int64_t{env.git_dirty}},
         {"compiler", env.compiler},
         {"build_type", env.build_type},
         {"build_flags", env.build_flags},
         {"engine_path", env.engine_path},
         {"cpu_model", env.cpu_model},
         {"cpu_flags", env.cpu_flags},
         {"cpu_cores", int64_t{env.cpu_cores}},
         {"kernel", env.kernel},
         {"hostname", env.hostname},
         {"disk", env.disk},
         {"memory_total_mb", env.memory_total_mb},
         {"cache_state", env.cache_state},
         {"drop_caches", int64_t{env.drop_caches}},
         {"budget_bytes", env.budget_bytes ? SqlValue(static_cast<int64_t>(*env.budget_bytes))
                                           : SqlValue()},
         {"budget_enforced", int64_t{env.budget_enforced}},
         {"budget_mechanism", env.budget_mechanism},
         {"budget_note", env.budget_note},
         {"load_average", env.load_average}});
    transaction.commit();
  }
  if (spec_.memory_budget_bytes)
    progress.note(fmt::format("memory budget {} MiB: {}", *spec_.memory_budget_bytes >> 20,
                              env.budget_note));

  // --- variants --------------------------------------------------------------------------
  std::vector<int64_t> variant_ids;
  {
    Transaction transaction(store_.db());
    for (size_t i = 0; i < spec_.variants.size(); ++i) {
      const Variant& v = spec_.variants[i];
      auto existing = store_.query("SELECT id FROM variants WHERE experiment_id = ? AND name = ?",
                                   {experiment_id, v.name});
      if (!existing.empty()) {
        variant_ids.push_back(to_int(existing[0].at("id")));
        continue;
      }
      variant_ids.push_back(store_.insert(
          "variants", {{"experiment_id", experiment_id},
                       {"ordinal", static_cast<int64_t>(i)},
                       {"name", v.name},
                       {"description", v.description},
                       {"origin", v.origin},
                       {"bundle", v.bundle},
                       {"is_baseline", int64_t{v.name == spec_.baseline}},
                       {"switches_json", json_text(v.switches)},
                       {"options_json", json_text(v.options)},
                       {"build_options_json", json_text(v.build_options)},
                       {"engine_path", v.build_options.empty() ? options_.engine.string() : ""}}));
    }
    transaction.commit();
  }

  // --- engines: one per compile-time option set, built when first needed ------------------
  EngineBuilder builder(options_.source_dir, options_.build_root, executor_, options_.cmake,
                        options_.build_jobs);
  std::map<std::string, std::variant<fs::path, std::string>> engines;  // binary or build error
  engines[""] = options_.engine;
  auto engine_for = [&](const Variant& v) -> std::variant<fs::path, std::string> {
    std::string key = build_key(v.build_options);
    if (!engines.count(key)) {
      progress.note(fmt::format("building engine for {} ...", key));
      try {
        fs::path binary = builder.ensure_built(v.build_options);
        engines[key] = binary;
        // Record which binary the variants with this option set ran.
        store_.db().query(
            "UPDATE variants SET engine_path = ? WHERE experiment_id = ? AND build_options_json = ?",
            {binary.string(), experiment_id, json_text(v.build_options)});
      } catch (const Error& e) {
        engines[key] = std::string(e.what());
        progress.note(fmt::format("build failed: {}", e.what()));
      }
    }
    return engines[key];
  };

  // --- the runs ----------------------------------------------------------------------------
  std::set<std::string> recorded;
  for (const auto& row : store_.query(
           "SELECT v.name, r.model, r.repeat FROM runs r JOIN variants v ON v.id = r.variant_id "
           "WHERE r.experiment_id = ?",
           {experiment_id}))
    recorded.insert(run_key(to_text(row.at("name")), to_text(row.at("model")),
                            static_cast<int>(to_int(row.at("repeat")))));
  ScratchDir scratch;
  fs::path metrics_path = scratch.path() / "metrics.json";
  int skipped = 0;
  for (const auto& plan : plans)
    if (recorded.count(run_key(spec_.variants[plan.variant_index].name,
                               model_label(spec_, spec_.models[plan.model_index]), plan.repeat)))
      ++skipped;
  progress.skip(skipped);
  summary.skipped = skipped;

  std::set<fs::path> warmed_models;
  for (const auto& plan : plans) {
    const Variant& variant = spec_.variants[plan.variant_index];
    const fs::path& model = spec_.model_for(variant, plan.model_index);  // the folder it reads
    std::string model_name = model_label(spec_, spec_.models[plan.model_index]);
    if (recorded.count(run_key(variant.name, model_name, plan.repeat))) continue;
    std::string what = fmt::format("{} rep {}/{}{}", variant.name, plan.repeat + 1, spec_.repeats,
                                   spec_.models.size() > 1 ? " on " + model_name : "");
    progress.start(what);

    std::string started_at = now_iso8601();
    double load = load_average_1m();
    Command command;
    command.timeout_s = spec_.timeout_s;
    command.cgroup_procs = procs;
    ExecResult result;
    bool oom_killed = false;
    auto engine = engine_for(variant);
    if (auto* build_error = std::get_if<std::string>(&engine)) {
      command.argv = generate_argv(spec_, plan, "streammoe", metrics_path);
      result.kind = ExitKind::kFailedToStart;
      result.stderr_tail = *build_error;
      result.error = "build failed";
    } else {
      if (spec_.cache == CacheState::kCold) {
        CacheReport evicted = evict_files(model, spec_.drop_caches);
        if (!evicted.note.empty() && plan.ordinal == plans.front().ordinal)
          progress.note("cold cache: " + evicted.note);
      } else if (warmed_models.insert(model).second) {
        warm_files(model);  // once per folder: the runs keep it warm
      }
      std::error_code ec;
      fs::remove(metrics_path, ec);
      command.argv = generate_argv(spec_, plan, std::get<fs::path>(engine), metrics_path);
      uint64_t oom_before = cgroup ? cgroup->oom_kills() : 0;
      result = executor_.execute(command);
      oom_killed = cgroup && cgroup->oom_kills() > oom_before;
    }
    std::string status = classify(result, oom_killed);
    std::string stderr_tail = result.stderr_tail;
    if (result.kind == ExitKind::kFailedToStart)
      stderr_tail = result.error + (stderr_tail.empty() ? "" : ": " + stderr_tail);

    std::optional<nlohmann::json> metrics;
    std::string metrics_text;
    if (status == "ok") {
      metrics_text = read_file(metrics_path);
      try {
        metrics = nlohmann::json::parse(metrics_text);
        if (!metrics->is_object()) throw std::runtime_error("not a JSON object");
      } catch (const std::exception& e) {
        status = "error";
        stderr_tail += fmt::format("\n[lab] metrics file {}: {}", metrics_path.string(),
                                   metrics_text.empty() ? "missing or empty" : e.what());
        metrics.reset();
      }
    }

    // One transaction per run: a crash of the lab loses at most the run in flight.
    Transaction transaction(store_.db());
    Fields run_fields = {
        {"experiment_id", experiment_id},
        {"variant_id", variant_ids[plan.variant_index]},
        {"environment_id", environment_id},
        {"model", model_name},
        {"repeat", int64_t{plan.repeat}},
        {"ordinal", int64_t{plan.ordinal}},
        {"prompt_index", int64_t{plan.prompt_index}},
        {"status", status},
        {"exit_code", result.kind == ExitKind::kExited ? SqlValue(int64_t{result.exit_code})
                                                       : SqlValue()},
        {"signal", result.signal ? SqlValue(int64_t{result.signal}) : SqlValue()},
        {"wall_ms", result.wall_ms},
        {"started_at", started_at},
        {"finished_at", now_iso8601()},
        {"command", shell_join(command.argv)},
        {"stderr_tail", stderr_tail},
        {"decode_ms_json", metrics && metrics->contains("decode_ms")
                               ? SqlValue((*metrics)["decode_ms"].dump())
                               : SqlValue()},
        {"metrics_json", metrics_text.empty() ? SqlValue() : SqlValue(metrics_text)},
        {"load_1m", std::isfinite(load) ? SqlValue(load) : SqlValue()}};
    int64_t run_id = store_.insert("runs", run_fields);
    if (metrics) {
      Fields fields = metrics_fields(*metrics, result);
      fields.insert(fields.begin(), {"run_id", run_id});
      store_.insert("metrics", fields);
    }
    transaction.commit();

    ++summary.executed;
    std::string outcome = status;
    if (metrics) {
      auto tok_s = number_at(*metrics, "decode_tok_s");
      outcome = tok_s ? fmt::format("{:.2f} tok/s", *tok_s) : "ok";
    } else {
      ++summary.failed;
      std::string tail = stderr_tail;
      while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
      auto last = tail.rfind('\n');
      outcome = fmt::format("{} ({}){}", status, describe(result),
                            tail.empty() ? "" : ": " + tail.substr(last == std::string::npos ? 0 : last + 1));
    }
    progress.finish(what, outcome);
  }
  progress.close();

  // --- quality suite -------------------------------------------------------------------------
  if (spec_.quality.enabled) {
    QualitySuite suite(executor_, options_.cache_dir, scratch.path());
    for (size_t m = 0; m < spec_.models.size(); ++m) {
      std::string model_name = model_label(spec_, spec_.models[m]);
      std::optional<fs::path> reference;
      std::string reference_error;
      for (size_t i = 0; i < spec_.variants.size(); ++i) {
        const Variant& variant = spec_.variants[i];
        auto done = store_.query(
            "SELECT 1 FROM quality WHERE experiment_id = ? AND variant_id = ? AND model = ? AND "
            "status = 'ok'",
            {experiment_id, variant_ids[i], model_name});
        if (!done.empty()) continue;
        // A variant without one successful run is a crash whatever its quality; measuring it
        // would only spend more timeouts.
        auto ok_runs = store_.query(
            "SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND variant_id = ? AND model = ? "
            "AND status = 'ok'",
            {experiment_id, variant_ids[i], model_name});
        if (to_int(ok_runs[0].values[0]) == 0) {
          progress.note(fmt::format("quality {}: skipped (no successful run)", variant.name));
          continue;
        }
        QualityMeasurement measurement;
        auto engine = engine_for(variant);
        if (auto* build_error = std::get_if<std::string>(&engine)) {
          measurement.error = *build_error;
        } else {
          bool needs_reference = !spec_.quality.text_file.empty() || !spec_.quality.ids.empty();
          if (!reference && reference_error.empty() && needs_reference) {
            QualityRun ref;
            ref.engine = options_.engine;
            ref.model = spec_.quality.reference_model.empty() ? spec_.models[m]
                                                              : spec_.quality.reference_model;
            ref.switches = spec_.quality.reference_switches;
            ref.timeout_s = spec_.timeout_s * 4;
            ref.cgroup_procs = procs;
            try {
              reference = suite.reference_logits(spec_.quality, ref);
              progress.note(fmt::format("quality: reference logits {}", reference->string()));
            } catch (const Error& e) {
              reference_error = e.what();
              progress.note(fmt::format("quality: {}", reference_error));
            }
          }
          if (!reference_error.empty()) {
            measurement.error = reference_error;
          } else {
            QualityRun run;
            run.engine = std::get<fs::path>(engine);
            run.model = spec_.model_for(variant, m);
            run.switches = variant.switches;
            run.timeout_s = spec_.timeout_s * 4;
            run.cgroup_procs = procs;
            measurement = suite.measure(spec_.quality, run, reference.value_or(fs::path()));
          }
        }
        QualityResult r = measurement.result();
        progress.note(fmt::format(
            "quality {}{}: {}", variant.name, spec_.models.size() > 1 ? " on " + model_name : "",
            measurement.ok
                ? fmt::format("KLD {:.5f}, top-1 {:.4f}, PPL ratio {:.4f}{}",
                              r.kld_mean.value_or(NAN), r.top1_agree.value_or(NAN),
                              r.ppl_ratio.value_or(NAN),
                              measurement.json_total
                                  ? fmt::format(", JSON valid {}/{}", measurement.json_valid,
                                                measurement.json_total)
                                  : "")
                : "failed: " + measurement.error));
        Fields fields = measurement.fields();
        fields.insert(fields.begin(), {{"experiment_id", experiment_id},
                                       {"variant_id", variant_ids[i]},
                                       {"model", model_name}});
        Transaction transaction(store_.db());
        store_.upsert("quality", fields);
        transaction.commit();
      }
    }
  }

  // --- verdicts ----------------------------------------------------------------------------
  update_verdicts(store_, experiment_id);
  auto counted = store_.query("SELECT COUNT(*) AS n FROM runs WHERE experiment_id = ?",
                              {experiment_id});
  bool complete = to_int(counted[0].at("n")) >= summary.planned;
  store_.update("experiments", experiment_id,
                {{"status", std::string(complete ? "complete" : "running")},
                 {"finished_at", complete ? SqlValue(now_iso8601()) : SqlValue()}});
  return summary;
}

}  // namespace streammoe::lab
