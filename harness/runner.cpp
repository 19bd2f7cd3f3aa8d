#include "harness/runner.h"

#include <unistd.h>

#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "engine/util/error.h"
#include "harness/analysis.h"
#include "harness/cache_control.h"
#include "harness/environment.h"
#include "harness/estimate.h"
#include "harness/io_counters.h"
#include "harness/packed_model.h"
#include "harness/quality.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

namespace {

std::string json_text(const std::map<std::string, std::string>& m) {
  return nlohmann::json(m).dump();
}

}  // namespace

std::string profile_summary(const MachineProfile& p) {
  return fmt::format("machine: disk {} GB/s random at {} KiB x {} in flight ({}), RAM {:.1f} GB/s "
                     "({:.1f} on one thread); {}{}",
                     std::isfinite(p.disk_rand_gbps) ? fmt::format("{:.2f}", p.disk_rand_gbps) : "?",
                     p.block_bytes >> 10, p.queue_depth, p.device, p.ram_read_gbps,
                     p.ram_read_gbps_1t,
                     p.reused ? "measured " + p.measured_at + " (cached)"
                              : fmt::format("measured now in {:.1f} s", p.seconds),
                     p.note.empty() ? "" : "; " + p.note);
}

fs::path Session::cgroup_procs() const { return cgroup ? cgroup->procs_file() : fs::path(); }

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
  if (const fs::path* replay = spec.replay_for(variant, plan.model_index, plan.repeat)) {
    argv.push_back("--replay-routing");
    argv.push_back(replay->string());
  }
  if (const fs::path* predicted = spec.predictor_trace_for(variant, plan.model_index, plan.repeat)) {
    argv.push_back("--predictor-trace");
    argv.push_back(predicted->string());
  }
  if (spec.workload.ignore_eos) argv.push_back("--ignore-eos");
  argv.push_back("--metrics-json");
  argv.push_back(metrics_path.string());
  return argv;
}

void print_plan(const ExperimentSpec& spec, const fs::path& engine, const fs::path& build_root,
                std::ostream& out, Store* history, const std::optional<RooflineRates>& rates) {
  auto plans = plan_runs(spec);
  out << fmt::format("experiment {}: {} variants x {} models x {} repeats = {} runs, cache {}\n",
                     spec.name, spec.variants.size(), spec.models.size(), spec.repeats,
                     plans.size(), to_string(spec.cache));
  for (const auto& pack : spec.packs)
    out << fmt::format("  prepare {}: {} -> {}\n",
                       fs::exists(pack.folder / kPackStampFile) ? "(made before; reused if current)"
                       : pack.kind == RecipeKind::kSynth        ? "(to make)"
                                                                : "(to pack)",
                       pack.describe(model_label(spec, pack.source)), model_label(spec, pack.folder));
  if (spec.memory_budget_bytes)
    out << fmt::format("  memory budget: {} MiB\n", *spec.memory_budget_bytes >> 20);
  if (spec.memory_budget_share) {
    const fs::path& model = spec.model_for(spec.baseline_variant(), 0);
    std::optional<ModelBytes> bytes = packed_model_bytes(model);
    std::string how = "from the model's files";
    for (const auto& pack : spec.packs)
      if (!bytes && pack.folder == model) {
        bytes = recipe_bytes(pack);
        how = "estimated from its recipe; resolved from its files once made";
      }
    out << fmt::format("  memory budget: {}\n",
                       bytes ? fmt::format("{} ({})", spec.memory_budget_share->describe(*bytes), how)
                             : "resolved from the baseline's model files (not a packed folder: the run will refuse)");
  }
  for (const auto& r : spec.replays)
    out << fmt::format("  prepare {}: {} -> {}\n",
                       fs::exists(r.file) ? "(made before; reused if current)" : "(to write)", r.describe(),
                       model_label(spec, r.file));
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
    out << fmt::format("quality suite: {} variants x {} models{} against {} (outside the memory "
                       "budget)\n",
                       spec.variants.size(), spec.models.size(),
                       spec.quality_model.empty() ? ""
                                                  : " measured on " + model_label(spec, spec.quality_model),
                       spec.quality.reference_model.empty() && spec.quality_model.empty()
                           ? "each model"
                           : model_label(spec, spec.reference_for(0)));
  out << estimate_plan(spec, history, rates).text();
}

Runner::Runner(const ExperimentSpec& spec, Store& store, Executor& executor, RunnerOptions options)
    : spec_(spec),
      store_(store),
      executor_(executor),
      options_(std::move(options)),
      progress_(options_.progress ? *options_.progress : discard_, options_.progress_tty, 0),
      builder_(options_.source_dir, options_.build_root, executor_, options_.cmake,
               options_.build_jobs) {
  engines_[""] = options_.engine;
}

Runner::~Runner() = default;

ScratchFile& Runner::scratch() {
  if (!scratch_) scratch_ = std::make_unique<ScratchFile>("streammoe-lab-metrics");
  return *scratch_;
}

RunnerSummary Runner::run() {
  RunnerSummary summary;
  const auto plans = plan();
  summary.planned = static_cast<int>(plans.size());
  progress_.set_total(summary.planned);

  nlohmann::json plan_json = prepare_models();
  Session session = open_experiment(plan_json, summary.planned);
  summary.experiment_id = session.experiment_id;
  summary.resumed = session.resumed;
  record_session(session);

  const std::set<std::string> recorded = recorded_runs(session);
  auto is_recorded = [&](const RunPlan& p) {
    return recorded.count(run_key(spec_.variants[p.variant_index].name,
                                  model_label(spec_, spec_.models[p.model_index]), p.repeat)) > 0;
  };
  for (const auto& p : plans) summary.skipped += is_recorded(p);
  progress_.skip(summary.skipped);
  std::set<std::pair<int, int>> warmed;  // (variant, model) warmed up in this session
  auto execute = [&](const RunPlan& p) {
    if (spec_.warmup > 0 && warmed.insert({p.variant_index, p.model_index}).second)
      for (int w = 0; w < spec_.warmup; ++w, ++summary.warmups) execute_run(session, p, true);
    RunRecord record = execute_run(session, p);
    store_run(session, p, record);
    ++summary.executed;
    if (!record.metrics && summary.failed++ == 0)
      summary.first_failure = fmt::format("{} repeat {}: {}", spec_.variants[p.variant_index].name,
                                          p.repeat, record.outcome());
  };
  for (const auto& p : plans)
    if (!is_recorded(p)) execute(p);
  int total = summary.planned;
  for (int repeat = spec_.repeats; repeat < spec_.max_repeats; ++repeat) {
    auto round = extension_round(session, repeat);
    if (round.empty()) break;
    progress_.set_total(total += static_cast<int>(round.size()));
    for (const auto& p : round) {
      if (is_recorded(p)) {
        progress_.skip(1);
      } else {
        execute(p);
      }
    }
  }
  progress_.close();

  measure_quality(session);
  decide(session, summary.planned);
  return summary;
}

std::vector<RunPlan> Runner::plan() const { return plan_runs(spec_); }

nlohmann::json Runner::prepare_models() {
  nlohmann::json plan_json = spec_.to_json();
  if (!spec_.replays.empty()) plan_json["prepared_traces"] = nlohmann::json::array();
  for (const auto& replay : spec_.replays) {
    PreparedReplay prepared = prepare_replay(replay);
    progress_.note(fmt::format("routing: {} -> {}{}", replay.describe(), model_label(spec_, replay.file),
                               prepared.reused ? " (reused)" : ""));
    plan_json["prepared_traces"].push_back(
        {{"file", replay.file.string()}, {"header", prepared.header}, {"reused", prepared.reused}});
  }
  if (!spec_.packs.empty()) plan_json["prepared_models"] = nlohmann::json::array();
  for (const auto& pack : spec_.packs) {
    progress_.note(fmt::format("model: {} -> {} ...", pack.describe(model_label(spec_, pack.source)),
                               model_label(spec_, pack.folder)));
    PreparedModel prepared = prepare_packed_model(pack, options_.engine, executor_);
    progress_.note(prepared.reused ? "model: reused (source and recipe unchanged)"
                                   : fmt::format("model: packed in {:.1f} s", prepared.seconds));
    nlohmann::json record = prepared.stamp;
    record["reused"] = prepared.reused;
    plan_json["prepared_models"].push_back(record);
  }
  if (spec_.memory_budget_share) {
    plan_json["memory_budget_bytes"] = *memory_budget();
    plan_json["memory_budget_resolved"] = budget_text_;
  }
  return plan_json;
}

std::optional<uint64_t> Runner::memory_budget() {
  if (spec_.memory_budget_bytes || !spec_.memory_budget_share) return spec_.memory_budget_bytes;
  if (!budget_) {
    const fs::path& model = spec_.model_for(spec_.baseline_variant(), 0);
    auto bytes = packed_model_bytes(model);
    if (!bytes)
      fail("{}: memory_budget: {{page_cache_share: ...}} needs the baseline's model to be a packed folder "
           "(pack or synth), whose resident and expert bytes are separate files; {} is not",
           spec_.file.string(), model.string());
    budget_ = spec_.memory_budget_share->bytes(*bytes);
    budget_text_ = spec_.memory_budget_share->describe(*bytes);
    progress_.note("memory budget: " + budget_text_);
  }
  return budget_;
}

Session Runner::open_experiment(const nlohmann::json& plan_json, int planned) {
  Session session;
  session.lock = ExperimentLock::try_lock(store_.db().path(), spec_.name);
  if (!session.lock) {
    auto rows = store_.query(
        "SELECT id, runner FROM experiments WHERE name = ? ORDER BY id DESC LIMIT 1", {spec_.name});
    std::string holder = rows.empty() || is_null(rows[0].at("runner"))
                             ? ""
                             : fmt::format(" (#{}, {})", to_int(rows[0].at("id")),
                                           to_text(rows[0].at("runner")));
    fail("{}: experiment '{}' is being run by another streammoe-lab process{}; wait for it to "
         "finish, or stop it (its lock goes with it) and run again with --resume",
         store_.db().path().string(), spec_.name, holder);
  }
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  const std::string runner = fmt::format("pid {} on {} since {}", getpid(), host, now_iso8601());
  const std::string identity = spec_.identity_hash();
  if (options_.resume) {
    auto rows = store_.query(
        "SELECT id, spec_hash FROM experiments WHERE name = ? ORDER BY id DESC LIMIT 1",
        {spec_.name});
    if (!rows.empty()) {
      if (to_text(rows[0].at("spec_hash")) != identity)
        fail("{}: cannot resume experiment '{}' (#{}): its models, workload, variants or quality "
             "settings changed since it started; run without --resume to start a new one",
             spec_.file.string(), spec_.name, to_int(rows[0].at("id")));
      session.experiment_id = to_int(rows[0].at("id"));
      session.resumed = true;
    }
  }
  if (!session.resumed) {
    Transaction transaction(store_.db());
    session.experiment_id = store_.insert(
        "experiments", {{"name", spec_.name},
                        {"hypothesis", spec_.hypothesis},
                        {"track", spec_.track},
                        {"spec_path", spec_.file.string()},
                        {"spec_yaml", spec_.yaml_text},
                        {"spec_hash", identity},
                        {"plan_json", plan_json.dump()},
                        {"runs_planned", int64_t{planned}},
                        {"status", std::string("running")},
                        {"started_at", now_iso8601()},
                        {"runner", runner},
                        {"rerun_of", options_.rerun_of ? SqlValue(*options_.rerun_of) : SqlValue()}});
    transaction.commit();
  } else {
    // The keep rule and hypothesis may be edited between sessions; verdicts use the latest.
    store_.update("experiments", session.experiment_id,
                  {{"plan_json", plan_json.dump()}, {"hypothesis", spec_.hypothesis},
                   {"status", std::string("running")}, {"runner", runner}});
  }
  return session;
}

void Runner::record_session(Session& session) {
  // --- memory budget and environment -------------------------------------------------------
  const std::optional<uint64_t> budget = memory_budget();
  if (budget)
    session.cgroup = MemoryCgroup::create(*budget,
                                          fmt::format("streammoe-lab-{}", getpid()),
                                          options_.cgroup_roots);
  const auto& cgroup = session.cgroup;
  Environment env = capture_environment(options_.source_dir, spec_.models.front());
  env.engine_path = options_.engine.string();
  env.cache_state = to_string(spec_.cache);
  env.drop_caches = spec_.drop_caches;
  env.budget_bytes = budget;
  env.budget_enforced = cgroup && cgroup->enforced();
  env.budget_mechanism = cgroup ? cgroup->mechanism() : "none";
  env.budget_note = cgroup ? cgroup->note() : "no memory_budget in the experiment";
  if (options_.machine_profile) {
    session.profile = options_.machine_profile(expert_files(spec_.models.front()));
    if (session.profile) progress_.note(profile_summary(*session.profile));
  }
  const auto& profile = session.profile;
  auto profile_number = [&](double MachineProfile::*field) {
    return profile && std::isfinite((*profile).*field) ? SqlValue((*profile).*field) : SqlValue();
  };
  {
    Transaction transaction(store_.db());
    session.environment_id = store_.insert(
        "environment",
        {{"experiment_id", session.experiment_id},
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
         {"load_average", env.load_average},
         {"disk_rand_gbps", profile_number(&MachineProfile::disk_rand_gbps)},
         {"disk_read_block_bytes",
          profile ? SqlValue(static_cast<int64_t>(profile->block_bytes)) : SqlValue()},
         {"disk_queue_depth", profile ? SqlValue(int64_t{profile->queue_depth}) : SqlValue()},
         {"ram_read_gbps", profile_number(&MachineProfile::ram_read_gbps)},
         {"ram_read_gbps_1t", profile_number(&MachineProfile::ram_read_gbps_1t)},
         {"profile_device", profile ? SqlValue(profile->device) : SqlValue()},
         {"profile_probe", profile ? SqlValue(profile->probe) : SqlValue()},
         {"profile_measured_at", profile ? SqlValue(profile->measured_at) : SqlValue()},
         {"profile_reused", profile ? SqlValue(int64_t{profile->reused}) : SqlValue()},
         {"profile_note", profile && !profile->note.empty() ? SqlValue(profile->note) : SqlValue()}});
    transaction.commit();
  }
  if (budget) progress_.note(fmt::format("memory budget {} MiB: {}", *budget >> 20, env.budget_note));

  // --- variants (kept from an earlier session when resuming) ----------------------------------
  Transaction transaction(store_.db());
  session.variant_ids.clear();
  for (size_t i = 0; i < spec_.variants.size(); ++i) {
    const Variant& v = spec_.variants[i];
    auto existing = store_.query("SELECT id FROM variants WHERE experiment_id = ? AND name = ?",
                                 {session.experiment_id, v.name});
    if (!existing.empty()) {
      session.variant_ids.push_back(to_int(existing[0].at("id")));
      continue;
    }
    session.variant_ids.push_back(store_.insert(
        "variants", {{"experiment_id", session.experiment_id},
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

std::set<std::string> Runner::recorded_runs(const Session& session) const {
  std::set<std::string> recorded;
  for (const auto& row : store_.query(
           "SELECT v.name, r.model, r.repeat FROM runs r JOIN variants v ON v.id = r.variant_id "
           "WHERE r.experiment_id = ?",
           {session.experiment_id}))
    recorded.insert(run_key(to_text(row.at("name")), to_text(row.at("model")),
                            static_cast<int>(to_int(row.at("repeat")))));
  return recorded;
}

std::vector<RunPlan> Runner::extension_round(const Session& session, int repeat) const {
  std::vector<RunPlan> round;
  if (!(spec_.min_time_s > 0) || repeat >= spec_.max_repeats) return round;
  // Seconds of successful runs per (variant, model). A variant with none is a crash whatever
  // more rounds would show: it does not hold the others back.
  std::map<std::pair<int64_t, std::string>, double> seconds;
  for (const auto& row : store_.query(
           "SELECT variant_id, model, SUM(wall_ms) AS ms FROM runs WHERE experiment_id = ? AND "
           "status = 'ok' GROUP BY variant_id, model",
           {session.experiment_id}))
    seconds[{to_int(row.at("variant_id")), to_text(row.at("model"))}] = to_double(row.at("ms")) / 1000;
  const int prompts = std::max<int>(1, static_cast<int>(spec_.workload.prompts.size()));
  int ordinal = static_cast<int>(plan_runs(spec_).size()) +
                (repeat - spec_.repeats) * static_cast<int>(spec_.variants.size() * spec_.models.size());
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    const std::string model = model_label(spec_, spec_.models[m]);
    bool short_of_time = false;
    for (int64_t id : session.variant_ids) {
      auto it = seconds.find({id, model});
      short_of_time |= it != seconds.end() && it->second < spec_.min_time_s;
    }
    if (!short_of_time) continue;
    for (size_t v = 0; v < spec_.variants.size(); ++v) {
      RunPlan p;
      p.ordinal = ordinal++;
      p.variant_index = static_cast<int>(v);
      p.model_index = static_cast<int>(m);
      p.repeat = repeat;
      p.prompt_index = repeat % prompts;  // the same prompt for every variant: still paired
      p.build_key = build_key(spec_.variants[v].build_options);
      round.push_back(p);
    }
  }
  return round;
}

std::variant<fs::path, std::string> Runner::engine_for(const Session& session,
                                                       const Variant& variant) {
  std::string key = build_key(variant.build_options);
  if (!engines_.count(key)) {
    progress_.note(fmt::format("building engine for {} ...", key));
    try {
      fs::path binary = builder_.ensure_built(variant.build_options);
      engines_[key] = binary;
      // Record which binary the variants with this option set ran.
      store_.db().query(
          "UPDATE variants SET engine_path = ? WHERE experiment_id = ? AND build_options_json = ?",
          {binary.string(), session.experiment_id, json_text(variant.build_options)});
    } catch (const Error& e) {
      engines_[key] = std::string(e.what());
      progress_.note(fmt::format("build failed: {}", e.what()));
    }
  }
  return engines_[key];
}

RunRecord Runner::execute_run(Session& session, const RunPlan& plan, bool warmup) {
  const Variant& variant = spec_.variants[plan.variant_index];
  const fs::path& model = spec_.model_for(variant, plan.model_index);  // the folder it reads
  std::string model_name = model_label(spec_, spec_.models[plan.model_index]);
  std::string what = fmt::format("{} {} {}/{}{}", variant.name, warmup ? "warmup before rep" : "rep",
                                 plan.repeat + 1, spec_.repeats,
                                 spec_.models.size() > 1 ? " on " + model_name : "");
  if (warmup) {
    progress_.note(what);
  } else {
    progress_.start(what);
  }
  if (!first_ordinal_) first_ordinal_ = plan.ordinal;

  std::string started_at = now_iso8601();
  double load = load_average_1m();
  fs::path metrics_path = scratch().path();
  Command command;
  command.timeout_s = spec_.timeout_s;
  command.cgroup_procs = session.cgroup_procs();
  ExecResult result;
  bool oom_killed = false;
  double resident_before = -1;
  std::optional<DiskReadCounter> counter;
  std::optional<uint64_t> read_before;
  auto engine = engine_for(session, variant);
  if (auto* build_error = std::get_if<std::string>(&engine)) {
    command.argv = generate_argv(spec_, plan, "streammoe", metrics_path);
    result.kind = ExitKind::kFailedToStart;
    result.stderr_tail = *build_error;
    result.error = "build failed";
  } else {
    if (spec_.cache == CacheState::kCold) {
      CacheReport evicted = evict_files(model, spec_.drop_caches);
      if (!evicted.note.empty() && plan.ordinal == *first_ordinal_)
        progress_.note("cold cache: " + evicted.note);
    } else if (warmed_models_.insert(model).second) {
      warm_files(model);  // once per folder: the runs keep it warm
    }
    scratch().clear();
    command.argv = generate_argv(spec_, plan, std::get<fs::path>(engine), metrics_path);
    const auto& cgroup = session.cgroup;
    uint64_t oom_before = cgroup ? cgroup->oom_kills() : 0;
    // Cold that is cold: what of the experts sat in the page cache, and what the disk read.
    if (!expert_files_.count(model)) expert_files_[model] = expert_files(model);
    resident_before = resident_fraction(expert_files_[model].files);
    counter = DiskReadCounter::for_path(model, cgroup ? cgroup->dir() : fs::path());
    read_before = counter ? counter->read_bytes() : std::nullopt;
    result = executor_.execute(command);
    oom_killed = cgroup && cgroup->oom_kills() > oom_before;
  }
  std::string metrics_text = result.ok() ? scratch().read() : std::string();
  RunRecord record = judge_run(std::move(result), oom_killed, std::move(metrics_text),
                               "--metrics-json");
  record.argv = command.argv;
  record.started_at = started_at;
  record.finished_at = now_iso8601();
  record.load_1m = load;
  record.expert_resident_before = resident_before;
  if (auto after = counter ? counter->read_bytes() : std::nullopt; after && read_before) {
    record.disk_read_bytes = *after >= *read_before ? *after - *read_before : 0;
    record.disk_read_source = counter->source();
  }
  if (!warmup) progress_.finish(what, record.outcome());
  return record;
}

void Runner::store_run(const Session& session, const RunPlan& plan, const RunRecord& record) {
  const ExecResult& result = record.result;
  const auto& metrics = record.metrics;
  // One transaction per run: a crash of the lab loses at most the run in flight.
  Transaction transaction(store_.db());
  Fields run_fields = {
      {"experiment_id", session.experiment_id},
      {"variant_id", session.variant_ids.at(plan.variant_index)},
      {"environment_id", session.environment_id},
      {"model", model_label(spec_, spec_.models[plan.model_index])},
      {"repeat", int64_t{plan.repeat}},
      {"ordinal", int64_t{plan.ordinal}},
      {"prompt_index", int64_t{plan.prompt_index}},
      {"status", record.status},
      {"exit_code", result.kind == ExitKind::kExited ? SqlValue(int64_t{result.exit_code})
                                                     : SqlValue()},
      {"signal", result.signal ? SqlValue(int64_t{result.signal}) : SqlValue()},
      {"wall_ms", result.wall_ms},
      {"started_at", record.started_at},
      {"finished_at", record.finished_at},
      {"command", shell_join(record.argv)},
      {"stderr_tail", record.stderr_tail},
      {"decode_ms_json", metrics && metrics->contains("decode_ms")
                             ? SqlValue((*metrics)["decode_ms"].dump())
                             : SqlValue()},
      {"metrics_json", record.metrics_text.empty() ? SqlValue() : SqlValue(record.metrics_text)},
      {"load_1m", std::isfinite(record.load_1m) ? SqlValue(record.load_1m) : SqlValue()},
      {"disk_read_bytes", record.disk_read_bytes
                              ? SqlValue(static_cast<int64_t>(*record.disk_read_bytes))
                              : SqlValue()},
      {"disk_read_source", record.disk_read_bytes ? SqlValue(record.disk_read_source) : SqlValue()},
      {"expert_resident_before", record.expert_resident_before >= 0
                                     ? SqlValue(record.expert_resident_before)
                                     : SqlValue()}};
  int64_t run_id = store_.insert("runs", run_fields);
  if (metrics) {
    Fields fields = metrics_fields(*metrics, result);
    fields.insert(fields.begin(), {"run_id", run_id});
    // The roofline for the threads the run computed with: one thread's RAM rate, or all cores'.
    const auto& options = spec_.variants[plan.variant_index].options;
    bool one_thread = !options.count("threads") || options.at("threads") == "1";
    const auto& profile = session.profile;
    double ram = profile ? (one_thread ? profile->ram_read_gbps_1t : profile->ram_read_gbps) : NAN;
    for (auto& field : telemetry_fields(*metrics, record.disk_read_bytes,
                                        profile ? profile->disk_rand_gbps : NAN, ram))
      fields.push_back(std::move(field));
    store_.insert("metrics", fields);
  }
  transaction.commit();
}

void Runner::measure_quality(const Session& session) {
  if (!spec_.quality.enabled) return;
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    std::optional<fs::path> reference;  // computed once per model, when first needed
    std::string reference_error;
    for (size_t i = 0; i < spec_.variants.size(); ++i)
      measure_variant_quality(session, i, m, reference, reference_error);
  }
}

void Runner::measure_variant_quality(const Session& session, size_t i, size_t m,
                                     std::optional<fs::path>& reference,
                                     std::string& reference_error) {
  const Variant& variant = spec_.variants[i];
  const std::string model_name = model_label(spec_, spec_.models[m]);
  const int64_t variant_id = session.variant_ids.at(i);
  auto done = store_.query(
      "SELECT 1 FROM quality WHERE experiment_id = ? AND variant_id = ? AND model = ? AND "
      "status = 'ok'",
      {session.experiment_id, variant_id, model_name});
  if (!done.empty()) return;
  // A variant without one successful run is a crash whatever its quality; measuring it would
  // only spend more timeouts.
  auto ok_runs = store_.query(
      "SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND variant_id = ? AND model = ? "
      "AND status = 'ok'",
      {session.experiment_id, variant_id, model_name});
  if (to_int(ok_runs[0].values[0]) == 0) {
    progress_.note(fmt::format("quality {}: skipped (no successful run)", variant.name));
    return;
  }
  QualitySuite suite(executor_, options_.cache_dir, scratch());
  QualityMeasurement measurement;
  auto engine = engine_for(session, variant);
  if (auto* build_error = std::get_if<std::string>(&engine)) {
    measurement.error = *build_error;
  } else {
    bool needs_reference = !spec_.quality.text_file.empty() || !spec_.quality.ids.empty();
    if (!reference && reference_error.empty() && needs_reference) {
      QualityRun ref;
      ref.engine = options_.engine;
      ref.model = spec_.reference_for(m);
      ref.switches = spec_.quality.reference_switches;
      ref.timeout_s = spec_.timeout_s * 4;
      // Outside the memory budget: the reference is the unquantised model with every expert,
      // a truth to compare with, not a measurement under the studied constraint.
      ref.cgroup_procs.clear();
      try {
        reference = suite.reference_logits(spec_.quality, ref);
        progress_.note(fmt::format("quality: reference logits {}", reference->string()));
      } catch (const Error& e) {
        reference_error = e.what();
        progress_.note(fmt::format("quality: {}", reference_error));
      }
    }
    if (!reference_error.empty()) {
      measurement.error = reference_error;
    } else {
      QualityRun run;
      run.engine = std::get<fs::path>(engine);
      run.model = spec_.quality_model_for(variant, m);
      run.switches = variant.switches;
      // The oracle predictor of a quality run reads the trace as recorded: the quality model is
      // the one that recorded it (the derived traces are for the speed model's depth).
      if (const RoutingReplaySpec* routing = spec_.routing_for(variant); routing && routing->predictor_trace)
        run.switches["predictor-trace"] =
            (routing->predictor_source.empty() ? routing->trace : routing->predictor_source).string();
      run.timeout_s = spec_.timeout_s * 4;
      run.cgroup_procs = session.cgroup_procs();
      measurement = suite.measure(spec_.quality, run, reference.value_or(fs::path()));
    }
  }
  QualityResult r = measurement.result();
  progress_.note(fmt::format(
      "quality {}{}: {}", variant.name, spec_.models.size() > 1 ? " on " + model_name : "",
      measurement.ok
          ? fmt::format("KLD {:.5f}, top-1 {:.4f}, PPL ratio {:.4f}{}", r.kld_mean.value_or(NAN),
                        r.top1_agree.value_or(NAN), r.ppl_ratio.value_or(NAN),
                        measurement.json_total ? fmt::format(", JSON valid {}/{}",
                                                             measurement.json_valid,
                                                             measurement.json_total)
                                               : "")
          : "failed: " + measurement.error));
  Fields fields = measurement.fields();
  fields.insert(fields.begin(), {{"experiment_id", session.experiment_id},
                                 {"variant_id", variant_id},
                                 {"model", model_name},
                                 {"measured_on", model_label(spec_, spec_.quality_model_for(variant, m))}});
  Transaction transaction(store_.db());
  store_.upsert("quality", fields);
  transaction.commit();
}

bool Runner::decide(const Session& session, int planned) {
  update_verdicts(store_, session.experiment_id);
  auto counted = store_.query("SELECT COUNT(*) AS n FROM runs WHERE experiment_id = ?",
                              {session.experiment_id});
  bool complete = to_int(counted[0].at("n")) >= planned;
  store_.update("experiments", session.experiment_id,
                {{"status", std::string(complete ? "complete" : "running")},
                 {"finished_at", complete ? SqlValue(now_iso8601()) : SqlValue()},
                 {"runner", SqlValue()}});
  return complete;
}

}  // namespace streammoe::lab
